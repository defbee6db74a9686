"""Thin edges of the router: PostgreSQL and Redis."""
