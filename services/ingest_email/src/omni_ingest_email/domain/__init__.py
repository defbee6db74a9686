"""Pure e-mail decisions: parsing, reply stripping, threading, auto-reply detection, signatures."""

from omni_ingest_email.domain.message import AttachmentMeta, MalformedEmail, ParsedEmail
from omni_ingest_email.domain.mime import parse_rfc5322
from omni_ingest_email.domain.normalize import dedupe_key, to_message
from omni_ingest_email.domain.thread_key import ThreadDecision, choose_thread_key, referenced_ids

__all__ = [
    "AttachmentMeta",
    "MalformedEmail",
    "ParsedEmail",
    "ThreadDecision",
    "choose_thread_key",
    "dedupe_key",
    "parse_rfc5322",
    "referenced_ids",
    "to_message",
]
