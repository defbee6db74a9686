"""ingest_chat tests: this directory is on sys.path, so tests import `chat_samples`."""
