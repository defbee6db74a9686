"""SLA tests: this directory is on sys.path, so tests import `sla_samples`."""
