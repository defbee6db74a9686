"""HTTP form bodies (multipart/form-data, application/x-www-form-urlencoded) kept as bytes.

SendGrid posts each parsed field in the mail's own charset (named in its `charsets` field), so
field values stay bytes here and are decoded by the provider module that knows the charset.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from email.message import Message

from omni_ingest_email.domain.charsets import clean_text, decode_bytes
from omni_ingest_email.domain.message import MalformedEmail
from omni_ingest_email.domain.mime import parse_header_block


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
    boundary = ctype.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise MalformedEmail("content-type", "multipart/form-data without a boundary")
    return _multipart(body, boundary.encode("latin-1", "replace"))


def _multipart(body: bytes, boundary: bytes) -> FormData:
    delimiter = b"--" + boundary
    sections = body.split(delimiter)
    if len(sections) < 2 or not sections[-1].startswith(b"--"):
        raise MalformedEmail("body", "multipart body without its closing boundary")
    form = FormData()
    for section in sections[1:-1]:
        if section.startswith(b"\r\n"):
            section = section[2:]
        elif section.startswith(b"\n"):
            section = section[1:]
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
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            raise MalformedEmail("body", "multipart part without a form field name")
        name = clean_text(name)
        filename = headers.get_filename()
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
