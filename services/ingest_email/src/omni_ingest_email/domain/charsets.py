"""Bytes to text for mail charsets, with the supersets Japanese mailers actually use."""

from __future__ import annotations

import codecs

# Mail labelled Shift_JIS or ISO-2022-JP routinely carries Microsoft/NEC extensions
# (①, ～, ㈱, half-width kana); decoding with the strict standard codec would garble them.
_SUPERSETS = {
    "shift_jis": ("cp932", "shift_jis"),
    "cp932": ("cp932",),
    "iso2022_jp": ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2", "cp932"),
    "euc_jp": ("euc_jp", "cp932"),
}
_ALIASES = {"x-sjis": "shift_jis", "windows-31j": "cp932", "x-ms-cp932": "cp932", "unicode-1-1-utf-7": "utf-7"}


def _codec_name(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip('"').lower()
    name = _ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset (or its usual superset); fall back to UTF-8, then CP932, then replace."""
    codec = _codec_name(charset)
    candidates: list[str] = list(_SUPERSETS.get(codec, (codec,))) if codec else []
    seven_bit_jis = (b"\x1b$B" in data or b"\x1b$@" in data) and data.isascii()
    if seven_bit_jis and codec in (None, "ascii", "utf-8", "latin-1", "iso8859-1"):
        candidates = ["iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2", *candidates]
    candidates.extend(["utf-8", "cp932"])
    for candidate in candidates:
        try:
            return data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("utf-8", errors="replace")


def clean_text(value: str) -> str:
    """Text safe for JSON: raw 8-bit bytes the parser kept as surrogates are decoded (UTF-8, else CP932)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        return value.replace("\x00", "") if "\x00" in value else value
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte
        return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")
    for candidate in ("utf-8", "cp932"):
        try:
            return raw.decode(candidate).replace("\x00", "")
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", "replace").replace("\x00", "")
