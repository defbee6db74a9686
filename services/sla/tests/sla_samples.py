"""Shared pieces of the SLA tests (this directory is on sys.path through conftest.py)."""

from __future__ import annotations

from typing import Any

FAST_POLICIES: dict[str, Any] = {
    "policies": [
        {
            "name": "email-paused",
            "match": {"channel": ["email"]},
            "calendar": None,
            "targets": {"first_response": "30s", "resolution": "4s"},
            "warn_at": 0.5,
            "pause_resolution_on_customer": True,
        },
        {
            "name": "fast",
            "calendar": None,
            "targets": {"first_response": "3s", "next_response": "3s", "resolution": "6s"},
            "warn_at": 0.5,
        },
    ]
}
