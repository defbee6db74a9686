"""ingest_social tests: this directory is on sys.path, so tests import `social_samples`."""
