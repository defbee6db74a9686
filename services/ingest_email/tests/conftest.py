"""ingest_email tests: this directory is on sys.path, so tests import `email_samples`."""
