"""The result of parsing one inbound delivery, before the shell publishes it."""

from __future__ import annotations

from dataclasses import dataclass

from omni_schemas import MessageReceived


@dataclass(frozen=True, slots=True)
class Normalized:
    """A normalized message and the provider-scoped id that identifies its redeliveries (or None)."""

    message: MessageReceived
    dedupe_key: str | None
