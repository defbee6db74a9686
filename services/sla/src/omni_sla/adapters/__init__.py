"""Thin edges of the SLA service: PostgreSQL, the SLA file, a scan of the SLA topic."""
