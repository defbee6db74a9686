"""Bytes to text for mail charsets, with the supersets Japanese mailers actually use."""

from __future__ import annotations

import codecs

# Mail labelled Shift_JIS, ISO-2022-JP or EUC-JP routinely carries Microsoft/NEC extensions
# (①, ～, ㈱, №, 髙, half-width kana); the strict standard codecs reject them, so after the strict
# codec the Microsoft code page is tried (CP932; CP50220/CP50221 and CP51932 by `_iso2022jp_ms` and
# `_eucjp_ms`). Other legacy labels are read through their usual supersets as browsers do (WHATWG):
# Latin-1 mail written on Windows carries CP1252 quotes, GB2312 carries GBK, EUC-KR carries CP949.
_ISO2022JP_MS = "omni-iso2022jp-ms"
_EUCJP_MS = "omni-eucjp-ms"
_SUPERSETS = {
    "shift_jis": ("cp932", "shift_jis"),
    "cp932": ("cp932",),
    "iso2022_jp": ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2", _ISO2022JP_MS),
    "euc_jp": ("euc_jp", _EUCJP_MS),
    "iso8859-1": ("cp1252", "iso8859-1"),
    "gb2312": ("gb2312", "gbk", "gb18030"),
    "gbk": ("gbk", "gb18030"),
    "euc_kr": ("euc_kr", "cp949"),
    "big5": ("big5", "cp950", "big5hkscs"),
}
_ALIASES = {
    "x-sjis": "shift_jis",
    "windows-31j": "cp932",
    "x-ms-cp932": "cp932",
    "unicode-1-1-utf-7": "utf-7",
    "cp50220": "iso2022_jp",
    "cp50221": "iso2022_jp",
    "cp50222": "iso2022_jp",
    "iso-2022-jp-ms": "iso2022_jp",
    "cp51932": "euc_jp",
    "eucjp-ms": "euc_jp",
    "x-euc-jp": "euc_jp",
}
# ISO-2022-JP designations: ESC + final bytes -> the character set that follows
_G0 = {
    b"(B": "ascii",
    b"(J": "ascii",  # JIS X 0201 Roman, read as ASCII as mailers mean it
    b"(H": "ascii",
    b"(I": "kana",
    b"$@": "jis0208",
    b"$B": "jis0208",
    b"$(B": "jis0208",
    b"$(D": "jis0212",
    b"$(O": "jis0213-1",
    b"$(Q": "jis0213-1",
    b"$(P": "jis0213-2",
}


def _jis_to_cp932(pairs: bytes) -> str:
    """JIS X 0208 row/cell pairs (NEC row 13 and the NEC-selected IBM rows included) read as CP932."""
    out: list[str] = []
    sjis = bytearray()
    for i in range(0, len(pairs) - 1, 2):
        j1, j2 = pairs[i], pairs[i + 1]
        if not (0x21 <= j1 <= 0x7E and 0x21 <= j2 <= 0x7E):  # outside the JIS grid
            out += [sjis.decode("cp932", "replace"), "\ufffd"]
            sjis.clear()
            continue
        s2 = j2 + (0x7E if j1 % 2 == 0 else 0x1F if j2 < 0x60 else 0x20)
        s1 = ((j1 + 1) >> 1) + (0x70 if j1 < 0x5F else 0xB0)
        sjis += bytes((s1, s2))
    out.append(sjis.decode("cp932", "replace"))
    if len(pairs) % 2:
        out.append("\ufffd")
    return "".join(out)


def _decode_set(charset: str, chunk: bytes) -> str:
    if charset == "ascii":
        return chunk.decode("ascii")
    if charset == "kana":
        return "".join(chr(0xFF61 + b - 0x21) if 0x21 <= b <= 0x5F else chr(b) for b in chunk)
    if charset == "jis0208":
        return _jis_to_cp932(chunk)
    high = bytes(b | 0x80 for b in chunk)
    if charset == "jis0212":
        return b"".join(b"\x8f" + high[i : i + 2] for i in range(0, len(high), 2)).decode("euc_jp", "replace")
    if charset == "jis0213-2":
        return b"".join(b"\x8f" + high[i : i + 2] for i in range(0, len(high), 2)).decode("euc_jis_2004", "replace")
    return high.decode("euc_jis_2004", "replace")


def _iso2022jp_ms(data: bytes) -> str:
    """ISO-2022-JP as Windows writes and reads it (CP50220/CP50221): the NEC and IBM extensions in
    JIS X 0208 mode, half-width kana after ESC ( I or between SO and SI; raises on 8-bit bytes."""
    if not data.isascii():
        raise UnicodeDecodeError("iso2022_jp", data, 0, len(data), "8-bit byte in a 7-bit charset")
    out: list[str] = []
    charset, shifted = "ascii", False
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b == 0x1B:
            for seq, name in _G0.items():
                if data.startswith(seq, i + 1):
                    charset = name
                    i += 1 + len(seq)
                    break
            else:
                if data.startswith(b"&@", i + 1):  # JIS X 0208-1990 announcer before ESC $ B
                    i += 3
                else:
                    out.append("\ufffd")
                    i += 1
            continue
        if b in (0x0E, 0x0F):  # SO / SI: half-width kana in and out (CP50221)
            shifted = b == 0x0E
            i += 1
            continue
        j = i
        while j < n and data[j] not in (0x1B, 0x0E, 0x0F) and (data[j] >= 0x21 or charset == "ascii" or shifted):
            j += 1
        if j == i:  # a control character or space inside a two-byte run: kept as is
            out.append(chr(b))
            i += 1
            continue
        out.append(_decode_set("kana" if shifted else charset, data[i:j]))
        i = j
    return "".join(out)


def _eucjp_ms(data: bytes) -> str:
    """EUC-JP as Windows reads it (CP51932, eucJP-ms): two-byte codes through CP932's NEC/IBM extensions."""
    out: list[str] = []
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b < 0x80:
            j = i
            while j < n and data[j] < 0x80:
                j += 1
            out.append(data[i:j].decode("ascii"))
            i = j
        elif b == 0x8E and i + 1 < n and 0xA1 <= data[i + 1] <= 0xDF:
            out.append(chr(0xFF61 + data[i + 1] - 0xA1))
            i += 2
        elif b == 0x8F and i + 2 < n:
            out.append(data[i : i + 3].decode("euc_jp", "replace"))
            i += 3
        elif 0xA1 <= b <= 0xFE and i + 1 < n and 0xA1 <= data[i + 1] <= 0xFE:
            out.append(_jis_to_cp932(bytes((b & 0x7F, data[i + 1] & 0x7F))))
            i += 2
        else:
            raise UnicodeDecodeError("euc_jp", data, i, i + 1, "not EUC-JP")
    return "".join(out)


_DECODERS = {_ISO2022JP_MS: _iso2022jp_ms, _EUCJP_MS: _eucjp_ms}


def _decode(data: bytes, codec: str) -> str:
    decoder = _DECODERS.get(codec)
    return decoder(data) if decoder is not None else data.decode(codec)


def _codec_name(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip('"').lower()
    name = _ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):  # ValueError: a NUL or a surrogate escape in the label
        return None


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset (or its usual superset); fall back to UTF-8, then CP932, then replace.

    The text is always safe for JSON: a codec that fails (some raise a bare UnicodeError: "undefined",
    "punycode") or yields lone surrogates ("utf-7", "unicode_escape" on hostile input) is skipped.
    """
    codec = _codec_name(charset)
    candidates: list[str] = list(_SUPERSETS.get(codec, (codec,))) if codec else []
    seven_bit_jis = (b"\x1b$B" in data or b"\x1b$@" in data or b"\x1b(I" in data) and data.isascii()
    if seven_bit_jis and codec in (None, "ascii", "utf-8", "latin-1", "iso8859-1"):
        candidates = [*_SUPERSETS["iso2022_jp"], *candidates]
    candidates.extend(["utf-8", "cp932"])
    for candidate in candidates:
        try:
            text = _decode(data, candidate)
        except (UnicodeError, LookupError):
            continue
        if text.isascii() or _encodable(text):
            return text
    return data.decode("utf-8", errors="replace")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
