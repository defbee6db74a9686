"""SendGrid Inbound Parse: both the parsed-fields mode and the raw `email` (full MIME) mode.

In parsed mode SendGrid posts `text`, `html`, `subject`, `from`, `to`, `cc` in the mail's own
charsets and names them in the `charsets` JSON field; threading headers come from `headers`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from typing import Any

from omni_ingest_email.domain.charsets import clean_text
from omni_ingest_email.domain.forms import FormData
from omni_ingest_email.domain.html_text import html_to_text
from omni_ingest_email.domain.message import AttachmentMeta, MalformedEmail, ParsedEmail
from omni_ingest_email.domain.mime import assemble, parse_header_block, parse_rfc5322


def basic_auth_ok(authorization: str | None, *, user: str, password: str) -> bool:
    """Constant-time check of `Authorization: Basic ...` against the configured parse-URL credentials."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    got_user, sep, got_password = decoded.partition(b":")
    user_ok = hmac.compare_digest(got_user, user.encode())
    password_ok = hmac.compare_digest(got_password, password.encode())
    return bool(sep) and user_ok and password_ok


def _json_field(form: FormData, name: str) -> Any:
    raw = form.fields.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        return json.loads(raw.decode("utf-8", "replace"))
    except (ValueError, RecursionError) as exc:  # RecursionError: arrays or objects nested too deeply
        raise MalformedEmail(name, f"not valid JSON: {exc.args[0] if exc.args else exc}") from exc


def _envelope(form: FormData) -> tuple[str | None, list[str]]:
    envelope = _json_field(form, "envelope")
    if envelope is None:
        return None, []
    if not isinstance(envelope, dict):
        raise MalformedEmail("envelope", "expected a JSON object with `to` and `from`")
    to = envelope.get("to") or []
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or not all(isinstance(t, str) for t in to):
        raise MalformedEmail("envelope.to", "expected a list of addresses")
    sender = envelope.get("from")
    if sender is not None and not isinstance(sender, str):
        raise MalformedEmail("envelope.from", "expected an address")
    return sender, to


def parse_sendgrid(form: FormData) -> ParsedEmail:
    """The mail a SendGrid Inbound Parse POST carries."""
    envelope_from, envelope_to = _envelope(form)
    raw = form.fields.get("email")
    if raw is not None:
        if not raw.strip():
            raise MalformedEmail("email", "empty raw message")
        return parse_rfc5322(raw, envelope_from=envelope_from, envelope_to=envelope_to)
    charsets = _json_field(form, "charsets") or {}
    if not isinstance(charsets, dict):
        raise MalformedEmail("charsets", "expected a JSON object of field name to charset")

    def field(name: str) -> str | None:
        charset = charsets.get(name)
        return form.text(name, charset if isinstance(charset, str) else "utf-8")

    if form.fields.get("from") is None and form.fields.get("headers") is None:
        raise MalformedEmail("from", "missing: neither `from` nor `headers` was posted")
    headers = parse_header_block(field("headers") or "")
    plain, html = field("text"), field("html")
    if plain and plain.strip():
        full_text = plain.replace("\r\n", "\n").strip("\n")
    elif html and html.strip():
        full_text = html_to_text(html)
    else:
        full_text = ""
    info = _json_field(form, "attachment-info") or {}
    attachments = []
    for file in form.files:
        meta = info.get(file.name) if isinstance(info, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        # clean_text: JSON can escape a lone surrogate, which the event could not carry
        filename = file.filename or (clean_text(meta["filename"]) if isinstance(meta.get("filename"), str) else None)
        ctype = clean_text(meta["type"]) if isinstance(meta.get("type"), str) else file.content_type
        attachments.append(AttachmentMeta(filename=filename, content_type=str(ctype)[:255], size_bytes=len(file.data)))
    subject = field("subject")
    return assemble(
        headers,
        full_text=full_text,
        attachments=attachments,
        envelope_from=envelope_from,
        envelope_to=envelope_to,
        from_override=field("from"),
        to_override=field("to"),
        cc_override=field("cc"),
        subject_override=None if subject is None else (_header_words(subject) or None),
    )


def _header_words(value: str) -> str:
    headers = parse_header_block("Subject: " + " ".join(value.splitlines()))
    return str(headers.get("Subject", "")).strip()
