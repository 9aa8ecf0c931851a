"""Where parts come from: a fixed URL list, or a vendor's export lifecycle."""

from streamer.providers.base import Source
from streamer.providers.urls import UrlSource

__all__ = ["Source", "UrlSource"]
