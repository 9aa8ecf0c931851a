"""LogiSense Billing (REST v10) DataExport: CSV files behind 30-second S3 links."""

from streamer.providers.logisense.auth import LogisenseAuth
from streamer.providers.logisense.client import LogisenseClient
from streamer.providers.logisense.lifecycle import DataExportLifecycle
from streamer.providers.logisense.source import LogisenseSource

__all__ = ["DataExportLifecycle", "LogisenseAuth", "LogisenseClient", "LogisenseSource"]
