"""HTML bodies to readable plain text (html2text), for mail that has no text/plain part."""

from __future__ import annotations

import re

import html2text

_BLANKS = re.compile(r"\n{3,}")
# an address linked to itself (Gmail's "2024年5月14日(火) 10:00 山田 <a@b>:" attribution line) stays an address
_MAILTO = re.compile(r"\[([^\[\]\s]+@[^\[\]\s]+)\]\(<?mailto:([^()<>\s]+)>?\)", re.IGNORECASE)


def _mailto(match: re.Match[str]) -> str:
    return match.group(1) if match.group(1).lower() == match.group(2).lower() else match.group(0)


def html_to_text(html: str) -> str:
    """Plain text of an HTML mail body: blockquotes become `> ` lines, so reply stripping still works."""
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.ignore_tables = True
    converter.ignore_links = False
    converter.inline_links = True
    converter.protect_links = True
    converter.unicode_snob = True
    converter.single_line_break = False
    try:
        text = converter.handle(html)
    except Exception:  # html2text on hostile markup: keep the tags out, the words in
        text = re.sub(r"<[^>]+>", " ", html)
    text = _MAILTO.sub(_mailto, text)
    lines = [line.rstrip() for line in text.splitlines()]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()
