"""Which conversation thread a mail belongs to, from Message-ID / In-Reply-To / References.

The thread is named after its root message: `email:<root id>`, where the root is the first id
of References, else In-Reply-To, else the mail's own Message-ID. Replies whose References
were dropped by the mailer (only In-Reply-To, or nothing) are caught by the shell, which
remembers every accepted mail's thread and passes those it knows as `known`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from omni_ingest_email.domain.message import ParsedEmail

PREFIX = "email:"
_MAX_ID = 400


@dataclass(frozen=True, slots=True)
class ThreadDecision:
    thread_key: str
    reason: str
    """`known_reference` (a referenced mail's thread), `root_reference`, `in_reply_to`, `message_id`, `content`."""


def _key(message_id: str) -> str:
    if len(message_id) > _MAX_ID:
        return PREFIX + "h:" + hashlib.sha256(message_id.encode()).hexdigest()
    return PREFIX + message_id


def referenced_ids(mail: ParsedEmail) -> list[str]:
    """Ids this mail answers, nearest parent first: In-Reply-To, then References last to first."""
    ids: list[str] = []
    if mail.in_reply_to:
        ids.append(mail.in_reply_to)
    ids.extend(reversed(mail.references))
    unique: list[str] = []
    for i in ids:
        if i not in unique and i != mail.message_id:
            unique.append(i)
    return unique


def choose_thread_key(mail: ParsedEmail, known: Mapping[str, str] | None = None) -> ThreadDecision:
    """The thread of `mail`; `known` maps message ids already seen to their thread keys."""
    known = known or {}
    for ref in referenced_ids(mail):
        if ref in known:
            return ThreadDecision(known[ref], "known_reference")
    if mail.references:
        return ThreadDecision(_key(mail.references[0]), "root_reference")
    if mail.in_reply_to:
        return ThreadDecision(_key(mail.in_reply_to), "in_reply_to")
    if mail.message_id:
        return ThreadDecision(_key(mail.message_id), "message_id")
    return ThreadDecision(PREFIX + "fp:" + mail.fingerprint[:40], "content")
