"""Mailgun routes `forward()`: the signature recipe and the posted fields (parsed or `body-mime`).

signature == hex(HMAC-SHA256(key=signing key, msg=timestamp + token)); a stale timestamp or a
reused token is a replay. The signature covers no content, which is why reuse is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from omni_ingest_email.domain.charsets import clean_text
from omni_ingest_email.domain.forms import FormData
from omni_ingest_email.domain.html_text import html_to_text
from omni_ingest_email.domain.message import AttachmentMeta, MalformedEmail, ParsedEmail
from omni_ingest_email.domain.mime import assemble, header_block, parse_header_block, parse_rfc5322

MAX_AGE_S = 15 * 60
_HEADER_FIELDS = ("Message-Id", "In-Reply-To", "References", "Date", "Auto-Submitted", "Precedence", "Content-Type")


def signature_problem(
    signing_key: str, *, timestamp: str | None, token: str | None, signature: str | None, now: float
) -> str | None:
    """None when the signature is right and fresh, else a stable reason: missing, stale or bad."""
    if not timestamp or not token or not signature:
        return "missing_signature"
    try:
        sent = float(timestamp)
    except ValueError:
        return "bad_signature"
    expected = hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):  # bytes: any text compares
        return "bad_signature"
    if abs(now - sent) > MAX_AGE_S:
        return "stale_timestamp"
    return None


def parse_mailgun(form: FormData) -> ParsedEmail:
    """The mail a Mailgun route forward carries."""
    recipient = form.text("recipient") or ""
    envelope_to = [r.strip() for r in recipient.split(",") if r.strip()]
    envelope_from = form.text("sender")
    raw = form.fields.get("body-mime")
    if raw is not None:
        if not raw.strip():
            raise MalformedEmail("body-mime", "empty raw message")
        return parse_rfc5322(raw, envelope_from=envelope_from or None, envelope_to=envelope_to)
    pairs: list[tuple[str, str]] = []
    listed = form.fields.get("message-headers")
    if listed is not None and listed.strip():
        try:
            decoded = json.loads(listed.decode("utf-8", "replace"))
        except (ValueError, RecursionError) as exc:  # RecursionError: arrays nested too deeply
            raise MalformedEmail("message-headers", "not valid JSON") from exc
        if not isinstance(decoded, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in decoded
        ):
            raise MalformedEmail("message-headers", "expected a JSON list of [name, value] pairs")
        pairs = [(p[0], p[1]) for p in decoded]
    else:
        for name in _HEADER_FIELDS:
            value = form.text(name)
            if value:
                pairs.append((name, value))
    headers = parse_header_block(header_block(pairs))
    sender = form.text("from") or form.text("From")
    if not sender and "From" not in headers and not envelope_from:
        raise MalformedEmail("from", "missing: no `from`, `sender` or From header")
    plain, html = form.text("body-plain"), form.text("body-html")
    if plain and plain.strip():
        full_text = plain.replace("\r\n", "\n").strip("\n")
    elif html and html.strip():
        full_text = html_to_text(html)
    else:
        full_text = ""
    attachments = [
        AttachmentMeta(filename=f.filename, content_type=f.content_type[:255], size_bytes=len(f.data))
        for f in form.files
        if f.name.startswith("attachment")
    ]
    attachments.extend(_stored_attachments(form))
    subject = form.text("subject")
    return assemble(
        headers,
        full_text=full_text,
        attachments=attachments,
        envelope_from=envelope_from or None,
        envelope_to=envelope_to,
        from_override=sender or None,
        to_override=form.text("To") or form.text("to") or None,
        cc_override=form.text("Cc") or form.text("cc") or None,
        subject_override=subject,
    )


def _stored_attachments(form: FormData) -> list[AttachmentMeta]:
    """store(notify=...) posts no files: `attachments` is a JSON list of {url, content-type, name, size}."""
    raw = form.fields.get("attachments")
    if raw is None or not raw.strip():
        return []
    try:
        listed = json.loads(raw.decode("utf-8", "replace"))
    except (ValueError, RecursionError) as exc:  # RecursionError: arrays nested too deeply
        raise MalformedEmail("attachments", "not valid JSON") from exc
    if not isinstance(listed, list):
        raise MalformedEmail("attachments", "expected a JSON list of attachment objects")
    found = []
    for item in listed:
        if not isinstance(item, dict):
            raise MalformedEmail("attachments", "expected a JSON list of attachment objects")
        name, ctype, size, url = item.get("name"), item.get("content-type"), item.get("size"), item.get("url")
        # clean_text: JSON can escape a lone surrogate, which the event could not carry
        found.append(
            AttachmentMeta(
                filename=clean_text(name)[:512] if isinstance(name, str) and name else None,
                content_type=clean_text(ctype)[:255]
                if isinstance(ctype, str) and ctype
                else "application/octet-stream",
                size_bytes=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
                url=clean_text(url) if isinstance(url, str) and url else None,
            )
        )
    return found
