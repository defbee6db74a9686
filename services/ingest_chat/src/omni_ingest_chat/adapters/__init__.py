"""Thin edges of ingest_chat: the router's HTTP API."""
