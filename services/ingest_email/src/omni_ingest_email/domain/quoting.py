"""Strip quoted reply history and signatures from a plain-text body, where it can be done reliably.

Cuts at the first reply header ("On ... wrote:", Japanese "2024年5月14日(火) 10:00 山田 <a@b>:",
"-----Original Message-----", Outlook's "From:/Sent:" block), drops `>` quoted lines, and cuts
at the standard signature delimiter "-- " and mobile footers. Forwarded messages are kept: the
forwarded text is what the customer is asking about. When nothing would remain, the whole body
is the text.
"""

from __future__ import annotations

import re

_ON_WROTE = re.compile(r"^\s*(On|Am|Le|El)\s.{4,400}(wrote|schrieb|a écrit|escribió)\s*:\s*$", re.IGNORECASE)
_ON_START = re.compile(r"^\s*On\s.{4,300}$")
_WROTE_END = re.compile(r"(wrote|schrieb)\s*:\s*$", re.IGNORECASE)
# Gmail (ja): "2024年5月14日(火) 10:00 山田 太郎 <a@b>:"; Apple Mail (ja): "2024/05/14 10:00、山田 <a@b>のメール:"
_JA_HEADER = re.compile(
    r"^\s*\d{4}\s*[年/-]\s*\d{1,2}\s*[月/-]\s*\d{1,2}\s*日?.{0,200}"
    r"(<[^<>\s]+@[^<>\s]+>|のメール|のメッセージ|は書きました|書きました|wrote)\s*[:：]?\s*$"
)
_JA_DATE_START = re.compile(r"^\s*\d{4}\s*[年/-]\s*\d{1,2}\s*[月/-]\s*\d{1,2}")
_JA_WRAPPED_END = re.compile(r"(>|のメール|のメッセージ|書きました|wrote)\s*[:：]\s*$")
_JA_WROTE = re.compile(r"^.{1,120}(さんは書きました|は書きました|wrote)\s*[:：]\s*$")
_SEPARATORS = re.compile(
    r"^\s*(-{2,}\s*(Original Message|元のメッセージ|オリジナルメッセージ|Ursprüngliche Nachricht|Message d'origine)\s*-{2,}"
    r"|_{10,})\s*$",
    re.IGNORECASE,
)
_FROM_LINE = re.compile(r"^\s*\*?(From|差出人|送信者)\s*\*?\s*[:：]", re.IGNORECASE)
_SENT_LINE = re.compile(r"^\s*\*?(Sent|Date|送信日時|日付|日時)\s*\*?\s*[:：]", re.IGNORECASE)
_RULE = re.compile(r"^\s*(\* \* \*|-{3,}|_{3,}|={3,})\s*$")  # a horizontal rule left before a cut
_QUOTED = re.compile(r"^\s*(>|＞)")
_SIGNATURE = re.compile(r"^-- ?$")
_FORWARD = re.compile(
    r"^\s*(-{3,}\s*(Forwarded message|転送メッセージ)\s*-{3,}|Begin forwarded message:|-{3,}\s*Forwarded by.*|転送.{0,20}[:：])\s*$",
    re.IGNORECASE,
)
_MOBILE_FOOTER = re.compile(
    r"^\s*(Sent from my \w+.*|Sent from (Mail|Outlook) for .*|Get Outlook for .*|iPhoneから送信|iPadから送信|"
    r"Android(端末)?から送信|Sent from Yahoo Mail.*)\s*$",
    re.IGNORECASE,
)


def _reply_header_at(lines: list[str], i: int) -> bool:
    line = lines[i]
    if _ON_WROTE.match(line) or _SEPARATORS.match(line) or _JA_HEADER.match(line):
        return True
    if _JA_WROTE.match(line) and i + 1 < len(lines) and (not lines[i + 1].strip() or _QUOTED.match(lines[i + 1])):
        return True
    # Gmail and Thunderbird wrap a long "On ... wrote:" over two or three lines
    if _ON_START.match(line) and not _WROTE_END.search(line):
        joined = line
        for j in range(i + 1, min(i + 3, len(lines))):
            joined += " " + lines[j].strip()
            if _WROTE_END.search(lines[j]):
                return bool(_ON_WROTE.match(joined))
    # Gmail (ja) wraps a long header before the address: "2024年5月14日(火) 10:00 山田 太郎 <\ntaro@example.jp>:"
    if _JA_DATE_START.match(line) and i + 1 < len(lines) and _JA_WRAPPED_END.search(lines[i + 1]):
        return len(line) + len(lines[i + 1]) < 300
    if _FROM_LINE.match(line):
        window = lines[i + 1 : i + 5]
        return any(_SENT_LINE.match(w) for w in window)
    return False


def strip_reply(body: str) -> str:
    """The new part of a reply: the body without quoted history, signature or mobile footer."""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    forwarded = False
    for i, line in enumerate(lines):
        if _FORWARD.match(line):
            forwarded = True
        if not forwarded:
            if _reply_header_at(lines, i) or _SIGNATURE.match(line):
                break
            if _QUOTED.match(line):
                continue
        kept.append(line)
    while kept and (not kept[-1].strip() or _MOBILE_FOOTER.match(kept[-1]) or _RULE.match(kept[-1])):
        kept.pop()
    text = "\n".join(kept).strip()
    return text if text else body.strip()
