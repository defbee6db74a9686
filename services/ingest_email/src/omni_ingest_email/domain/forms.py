"""HTTP form bodies (multipart/form-data, application/x-www-form-urlencoded) kept as bytes.

SendGrid posts each parsed field in the mail's own charset (named in its `charsets` field), so
field values stay bytes here and are decoded by the provider module that knows the charset.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from email.message import Message
from itertools import pairwise

from omni_ingest_email.domain.charsets import clean_text, decode_bytes
from omni_ingest_email.domain.message import MalformedEmail
from omni_ingest_email.domain.mime import header_param, parse_header_block


@dataclass(frozen=True, slots=True)
class FormFile:
    name: str
    filename: str | None
    content_type: str
    data: bytes


@dataclass(slots=True)
class FormData:
    fields: dict[str, bytes] = field(default_factory=dict)
    files: list[FormFile] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(len(v) for v in self.fields.values()) + sum(len(f.data) for f in self.files)

    def text(self, name: str, charset: str | None = "utf-8") -> str | None:
        value = self.fields.get(name)
        return None if value is None else decode_bytes(value, charset)


def _content_type(value: str) -> Message:
    msg = Message()
    msg["Content-Type"] = value
    return msg


def parse_form(content_type: str, body: bytes) -> FormData:
    """Fields and files of a form body; MalformedEmail names what is wrong."""
    ctype = _content_type(content_type or "")
    kind = ctype.get_content_type().lower()
    if kind == "application/x-www-form-urlencoded":
        form = FormData()
        # latin-1 round trip: percent-decoding then yields the posted bytes, whatever their charset
        try:
            pairs = urllib.parse.parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
        except ValueError as exc:
            raise MalformedEmail("body", f"undecodable form: {exc}") from exc
        for key, value in pairs:
            form.fields.setdefault(decode_bytes(key.encode("latin-1"), "utf-8"), value.encode("latin-1"))
        return form
    if kind != "multipart/form-data":
        raise MalformedEmail("content-type", "expected multipart/form-data or application/x-www-form-urlencoded")
    boundary = header_param(ctype, "boundary")
    if not boundary:
        raise MalformedEmail("content-type", "multipart/form-data without a boundary")
    return _multipart(body, boundary.encode("latin-1", "replace"))


def _file_name(headers: Message) -> str | None:
    """A part's file name, or None for a plain field."""
    try:
        return headers.get_filename()
    except UnicodeError:
        # the stdlib decodes an RFC 2231 name in its declared charset and catches only LookupError; a
        # codec that refuses everything ("undefined") raises, so such a name goes through decode_bytes
        raw = headers.get_param("filename", header="content-disposition") or headers.get_param("name")
        if isinstance(raw, tuple):
            return decode_bytes(raw[2].encode("raw-unicode-escape"), raw[0])
        return ""
    except TypeError:  # unsortable RFC 2231 parameters in Content-Type (see header_param): not a file name
        return None


def _delimiter_lines(body: bytes, boundary: bytes) -> list[re.Match[bytes]]:
    """The delimiter lines up to the close delimiter (RFC 2046 5.1.1): "--" + boundary at the start of
    a line, then optional whitespace and the line end ("--" first for the close delimiter); LF-only
    line ends are accepted too. Raises MalformedEmail without a close delimiter."""
    lines: list[re.Match[bytes]] = []
    for match in re.finditer(rb"--" + re.escape(boundary) + rb"(--)?[ \t]*\r?$", body, re.MULTILINE):
        if match.start() and body[match.start() - 1] != 0x0A:  # "--boundary" inside a line is content
            continue
        lines.append(match)
        if match.group(1):
            return lines
    raise MalformedEmail("body", "multipart body without its closing boundary")


def _multipart(body: bytes, boundary: bytes) -> FormData:
    lines = _delimiter_lines(body, boundary)
    form = FormData()
    for before, after in pairwise(lines):
        # a delimiter line's match stops before its "\n"; the line break before the next one is its own
        section = body[before.end() + 1 : after.start()]
        head, sep, data = section.partition(b"\r\n\r\n")
        if not sep:
            head, sep, data = section.partition(b"\n\n")
        if not sep:
            raise MalformedEmail("body", "multipart part without a header block")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        elif data.endswith(b"\n"):
            data = data[:-1]
        headers = parse_header_block(head.decode("utf-8", "surrogateescape"))
        name = header_param(headers, "name", header="content-disposition")
        if not name:
            raise MalformedEmail("body", "multipart part without a form field name")
        name = clean_text(name)
        filename = _file_name(headers)
        if filename is not None:
            form.files.append(
                FormFile(
                    name=name,
                    filename=clean_text(str(filename))[:512] or None,
                    content_type=headers.get_content_type()
                    if "Content-Type" in headers
                    else "application/octet-stream",
                    data=data,
                )
            )
        else:
            form.fields.setdefault(name, data)
    return form
