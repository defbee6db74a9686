"""RFC 5322 / MIME mail to a ParsedEmail with the standard library's modern `email` API.

multipart/alternative prefers text/plain and falls back to HTML converted to text; transfer
encodings (quoted-printable, base64) and RFC 2047 / RFC 2231 headers are decoded by the
library; charsets go through `charsets.decode_bytes`, so ISO-2022-JP and Shift_JIS mail
(including the Microsoft extensions) decodes cleanly.
"""

from __future__ import annotations

import email
import email.parser
import email.utils
import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from email import policy
from email.header import decode_header
from email.message import EmailMessage, Message
from typing import cast

from omni_ingest_email.domain.auto_reply import auto_reply_reason
from omni_ingest_email.domain.charsets import clean_text, decode_bytes
from omni_ingest_email.domain.html_text import html_to_text
from omni_ingest_email.domain.message import AttachmentMeta, ParsedEmail
from omni_ingest_email.domain.quoting import strip_reply

_ID = re.compile(r"<\s*([^<>\s]+)\s*>")
_NEWLINES = re.compile(r"[\r\n]+")
_HEADERS_ONLY = email.parser.Parser(policy=policy.compat32)
MAX_REFERENCES = 50
MAX_ATTACHMENTS = 100


def parse_message(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)


def parse_header_block(block: str) -> Message:
    """A header-only message from a raw header block (SendGrid `headers`, Mailgun `message-headers`)."""
    text = block.replace("\r\n", "\n").strip("\n") + "\n\n"
    return _HEADERS_ONLY.parsestr(text, headersonly=True)


def header_block(pairs: Iterable[tuple[str, str]]) -> str:
    """A raw header block from (name, value) pairs, one line each."""
    lines = []
    for name, value in pairs:
        name = re.sub(r"[^!-9;-~]", "", str(name))
        if name:  # clean_text: a lone surrogate (escaped in JSON) makes the stdlib's header lookups raise
            lines.append(name + ": " + _NEWLINES.sub(" ", clean_text(str(value))))
    return "\n".join(lines)


_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})")


def _unescape(chunk: bytes) -> str:
    """Undo `decode_header`'s raw-unicode-escape of unencoded text; a literal backslash (C:\\users) stays."""

    def char(match: re.Match[str]) -> str:
        code = int(match.group(1) or match.group(2), 16)
        # the escape never writes a surrogate; literal "\\udead" text must not become one (the event cannot carry it)
        return chr(code) if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else match.group(0)

    return _UNICODE_ESCAPE.sub(char, chunk.decode("latin-1"))


def _unjis(value: str) -> str:
    """A header written in raw ISO-2022-JP, without RFC 2047 words (old Japanese mailers), decoded."""
    if "\x1b" not in value or not value.isascii():
        return value
    return decode_bytes(value.encode("ascii"), None)


def _decode_words(value: str) -> str:
    """RFC 2047 words decoded, Japanese charsets through their supersets (Shift_JIS mail carries ①)."""
    value = _unjis(value)
    if "=?" not in value:
        return value
    try:
        parts = decode_header(value)
    except Exception:
        return value
    out: list[str] = []
    for chunk, charset in parts:
        if isinstance(chunk, bytes):
            out.append(_unescape(chunk) if charset is None else decode_bytes(chunk, charset))
        else:
            out.append(chunk)
    joined = "".join(out) if any(c for _, c in parts) else value
    return re.sub(r"\s+", " ", joined).strip()


def _raw(msg: Message, name: str) -> str | None:
    for raw_name, raw_value in msg.raw_items():
        if raw_name.lower() == name.lower():
            return clean_text(str(raw_value))
    return None


_FOLD = re.compile(r"\r?\n[ \t]*")


def header(msg: Message, name: str) -> str | None:
    """A header's decoded value (RFC 2047 words decoded, unfolded), or None; never raises on a malformed one."""
    raw = _raw(msg, name)
    if raw is None:
        return None
    return _decode_words(_FOLD.sub(" ", raw)).strip()


def header_param(msg: Message, name: str, *, header: str = "content-type") -> str | None:
    """A header parameter's plain value, or None (absent, RFC 2231-encoded, or unreadable): the stdlib
    raises TypeError where RFC 2231 "name*" stands beside "name*0*" in the same header."""
    try:
        value = msg.get_param(name, header=header)
    except TypeError:
        return None
    return value if isinstance(value, str) else None


def message_ids(value: str | None) -> list[str]:
    """Message ids from a Message-ID / In-Reply-To / References value, angle brackets removed."""
    if not value:
        return []
    found = _ID.findall(value)
    if found:
        return [clean_text(i) for i in found]
    token = value.strip().split()[0] if value.strip() else ""
    return [clean_text(token.strip("<>"))] if token.strip("<>") else []


def _pairs(values: Sequence[str]) -> list[tuple[str | None, str]]:
    try:
        found = email.utils.getaddresses([_unjis(_FOLD.sub(" ", v)) for v in values])
    except Exception:
        return []
    return [
        (_decode_words(n).strip() or None, a.strip().lower()) for n, a in found if "@" in a and " " not in a.strip()
    ]


def _addresses(msg: Message, name: str) -> list[tuple[str | None, str]]:
    """(display name, lower-cased address) pairs of an address header."""
    return _pairs([clean_text(str(v)) for k, v in msg.raw_items() if k.lower() == name.lower()])


def address_list(value: str | None) -> list[tuple[str | None, str]]:
    """(display name, lower-cased address) pairs of a free-form address field (webhook `from`, `to`)."""
    return _pairs([value]) if value else []


def _sent_at(msg: Message) -> datetime | None:
    raw = header(msg, "Date")
    if not raw:
        return None
    try:
        value = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if not isinstance(value, datetime):
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _unflow(text: str, *, delsp: bool) -> str:
    """RFC 3676 format=flowed: join soft-broken lines (a trailing space continues the line)."""
    out: list[str] = []
    buf = ""
    for line in text.split("\n"):
        if line.endswith(" ") and line != "-- ":
            buf += line[:-1] if delsp else line
        else:
            out.append(buf + line)
            buf = ""
    if buf:
        out.append(buf)
    return "\n".join(out)


def part_text(part: Message) -> str:
    """A text part's content as str, decoded with its (or a sensible) charset."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        payload = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    try:
        charset = part.get_content_charset()
    except TypeError:  # see header_param
        charset = None
    text = decode_bytes(payload, charset).replace("\r\n", "\n").replace("\r", "\n")
    if (header_param(part, "format") or "").lower() == "flowed":
        text = _unflow(text, delsp=(header_param(part, "delsp") or "").lower() == "yes")
    return clean_text(text)


def _raw_filename(part: Message) -> str | None:
    """The file name from the raw header: the modern parser turns raw 8-bit (Shift_JIS) names into U+FFFD."""
    raw = Message(policy=policy.compat32)
    for name, value in part.raw_items():
        if name.lower() in ("content-disposition", "content-type"):
            raw[name] = clean_text(str(value))
    try:
        found = raw.get_filename()
    except Exception:
        return None
    return found if isinstance(found, str) else None


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if name and "\ufffd" in name:
        name = _raw_filename(part) or name
    if not name:
        return None
    return _decode_words(clean_text(str(name))).strip()[:512] or None


def _size(part: Message) -> int:
    if part.get_content_maintype() == "message":
        try:
            return len(part.as_bytes())
        except Exception:
            return 0
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        return 0
    return len(payload) if isinstance(payload, bytes) else 0


def _attachments(msg: Message, body: Message | None) -> list[AttachmentMeta]:
    found: list[AttachmentMeta] = []

    def visit(part: Message) -> None:
        if len(found) >= MAX_ATTACHMENTS or part is body:
            return
        ctype = part.get_content_type().lower()
        if part.get_content_maintype() == "multipart" and part.is_multipart():
            for sub in cast(list[Message], part.get_payload()):
                visit(sub)
            return
        filename = _filename(part)
        disposition = (part.get_content_disposition() or "").lower()
        if ctype in ("text/plain", "text/html") and filename is None and disposition != "attachment":
            return  # another rendering of the body, not a file
        found.append(AttachmentMeta(filename=filename, content_type=ctype[:255], size_bytes=_size(part)))

    if msg.is_multipart() or (body is None and msg.get_content_maintype() != "text"):
        visit(msg)
    return found


def _body(msg: EmailMessage) -> tuple[str, Message | None]:
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
    except Exception:
        part = None
    if part is None and not msg.is_multipart() and msg.get_content_maintype() == "text":
        part = msg
    if part is None:
        return "", None
    text = _rendered(part)
    if not text.strip() and part.get_content_subtype().lower() == "plain":
        # a blank text/plain beside the HTML (as some mailers send) says nothing: read the HTML instead
        try:
            html = msg.get_body(preferencelist=("html",))
        except Exception:
            html = None
        html_text = _rendered(html) if html is not None else ""
        if html_text.strip():
            return html_text, html
    return text, part


def _rendered(part: Message) -> str:
    text = part_text(part)
    if part.get_content_subtype().lower() == "html":
        text = html_to_text(text)
    return text.strip("\n")


def fingerprint(
    *,
    message_id: str | None,
    from_address: str | None,
    date: str | None,
    subject: str | None,
    body: str,
    attachments: Sequence[AttachmentMeta],
) -> str:
    """A hash of what identifies one mail across redeliveries (not trace headers that relays add)."""
    h = hashlib.sha256()
    for value in (message_id, from_address, date, subject, body):
        h.update((value or "").encode("utf-8", "replace") + b"\x1f")
    for a in attachments:
        h.update(f"{a.filename}\x1e{a.content_type}\x1e{a.size_bytes}\x1f".encode("utf-8", "replace"))
    return h.hexdigest()


def assemble(
    headers: Message,
    *,
    full_text: str,
    attachments: Sequence[AttachmentMeta],
    envelope_from: str | None = None,
    envelope_to: Sequence[str] = (),
    from_override: str | None = None,
    to_override: str | None = None,
    cc_override: str | None = None,
    subject_override: str | None = None,
) -> ParsedEmail:
    """Combine header facts and a decoded body into a ParsedEmail (shared by SMTP and the webhooks)."""
    senders = address_list(from_override) if from_override else _addresses(headers, "From")
    if not senders:
        senders = _addresses(headers, "Sender") or _addresses(headers, "Reply-To")
    from_name, from_address = senders[0] if senders else (None, None)
    to = [a for _, a in (address_list(to_override) if to_override else _addresses(headers, "To"))]
    cc = [a for _, a in (address_list(cc_override) if cc_override else _addresses(headers, "Cc"))]
    subject = subject_override if subject_override is not None else header(headers, "Subject")
    own = message_ids(header(headers, "Message-ID"))
    message_id = own[0] if own else None
    parents = message_ids(header(headers, "In-Reply-To"))
    references = message_ids(header(headers, "References"))
    if len(references) > MAX_REFERENCES:
        references = [references[0], *references[-(MAX_REFERENCES - 1) :]]
    content_type = headers.get_content_type() if "Content-Type" in headers else None
    report_type = header_param(headers, "report-type") if content_type == "multipart/report" else None
    reason = auto_reply_reason(
        lambda name: header(headers, name),
        content_type=content_type,
        report_type=report_type,
        from_address=from_address,
        envelope_from=envelope_from,
        subject=subject,
    )
    return ParsedEmail(
        message_id=message_id,
        in_reply_to=parents[0] if parents else None,
        references=tuple(references),
        from_address=from_address,
        from_name=from_name,
        to=tuple(to),
        cc=tuple(cc),
        subject=subject or None,
        sent_at=_sent_at(headers),
        text=strip_reply(full_text) if full_text else "",
        full_text=full_text,
        attachments=tuple(attachments[:MAX_ATTACHMENTS]),
        auto_reply_reason=reason,
        fingerprint=fingerprint(
            message_id=message_id,
            from_address=from_address,
            date=header(headers, "Date"),
            subject=subject,
            body=full_text,
            attachments=attachments,
        ),
        # clean_text: aiosmtpd hands over raw 8-bit address bytes as surrogate escapes
        envelope_to=tuple(clean_text(a).strip().strip("<>").lower() for a in envelope_to if a.strip()),
        envelope_from=(clean_text(envelope_from).strip().strip("<>").lower() or None) if envelope_from else None,
    )


def parse_rfc5322(raw: bytes, *, envelope_from: str | None = None, envelope_to: Sequence[str] = ()) -> ParsedEmail:
    """Parse a raw mail (as received over SMTP or in a provider's raw-MIME field).

    A mail whose parts no parser can walk still goes in, with its headers and without body or files.
    """
    try:
        return _parse(parse_message(raw), envelope_from=envelope_from, envelope_to=envelope_to)
    except RecursionError:
        pass  # parts nested deeper than the parser can recurse (hostile); compat32 would recurse as deep
    except Exception:
        # the modern header registry raises on some malformed parameters (an RFC 2231 value in a
        # broken charset); the compat32 policy reads them as plain strings, so the mail still goes in
        try:
            lenient = email.parser.BytesParser(EmailMessage, policy=policy.compat32).parsebytes(raw)
            return _parse(cast(EmailMessage, lenient), envelope_from=envelope_from, envelope_to=envelope_to)
        except Exception:
            pass  # e.g. compat32 raises TypeError looking up a boundary beside unsortable RFC 2231 parameters
    headers = email.parser.BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)
    return assemble(headers, full_text="", attachments=(), envelope_from=envelope_from, envelope_to=envelope_to)


def _parse(msg: EmailMessage, *, envelope_from: str | None, envelope_to: Sequence[str]) -> ParsedEmail:
    full_text, body = _body(msg)
    return assemble(
        msg,
        full_text=full_text,
        attachments=_attachments(msg, body),
        envelope_from=envelope_from,
        envelope_to=envelope_to,
    )
