"""The ``streamer`` command: data on stdout, logs and progress on stderr."""
