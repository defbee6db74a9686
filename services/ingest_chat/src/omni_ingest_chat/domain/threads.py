"""Thread keys: what the router maps to one open conversation.

* Web chat: the session id. A session is one visit; the widget starts a new session (and so a
  new conversation) when the visitor comes back later.
* SMS and WhatsApp via Twilio: one key per (customer number, our number) pair, e.g.
  `sms:+819012345678:+15005550006`. The "session window" is the router's business: it maps a
  thread key to the pair's open conversation, reopens a recently resolved one and starts a new
  conversation otherwise. A stable key per pair keeps that decision in the one place that knows
  the conversation's state, and it never splits a running conversation at a time boundary (which
  a key with a time bucket in it would). It is also the Kafka key, so one pair's messages stay
  in order on one partition.
"""

from __future__ import annotations

import re

# any URL-safe id a widget generates (UUIDs, nanoids, which may start with "_" or "-"); not "." or ".."
SESSION_ID_PATTERN = r"^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$"
_SESSION_ID = re.compile(SESSION_ID_PATTERN)


def is_valid_session_id(session_id: str) -> bool:
    return _SESSION_ID.fullmatch(session_id) is not None


def chat_thread_key(session_id: str) -> str:
    """The thread of one web chat session."""
    return f"chat:{session_id}"


def phone_thread_key(channel: str, customer: str, ours: str) -> str:
    """The thread of a (customer number, our number) pair on an SMS-like channel."""
    return f"{channel}:{customer}:{ours}"
