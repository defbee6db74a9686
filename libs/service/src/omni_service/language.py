"""Language of short customer texts, Japanese and English first-class; one detector for every channel.

The script decides first, without a model, where it can: when Japanese script (kana, kanji) carries
at least a fifth of the letters the answer is `ja`, unless there is no kana and a kanji is one that
Japanese is not written with (outside JIS, as 这 订 谢 吗 of simplified Chinese): then `zh`. Where
Hangul carries a fifth of the letters and outweighs Japanese script, `ko`. Other texts go to lingua,
restricted to English and Japanese (so short texts are decided well and fast), built once, lazily,
on first use or by `warm_up()` at start-up. Pure: no I/O, no clock. The ingest services declare
`lingua-language-detector` among their dependencies.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_detector: Any = None
_MAX_CHARS = 2000


def _build() -> Any:
    global _detector
    with _lock:
        if _detector is None:
            from lingua import Language, LanguageDetectorBuilder

            _detector = LanguageDetectorBuilder.from_languages(Language.ENGLISH, Language.JAPANESE).build()
    return _detector


def warm_up() -> None:
    """Build the detector now (it takes a moment), so the first message does not wait for it."""
    _build()


def _kana(ch: str) -> bool:
    return "\u3040" <= ch <= "\u30ff" or "\uff66" <= ch <= "\uff9d"


def _hangul(ch: str) -> bool:
    return "\uac00" <= ch <= "\ud7a3" or "\u1100" <= ch <= "\u11ff" or "\u3130" <= ch <= "\u318f"


def _not_written_in_japanese(ch: str) -> bool:
    """A CJK ideograph outside Japanese's character sets (JIS X 0208 with the Windows extensions)."""
    if not "\u4e00" <= ch <= "\u9fff":
        return False
    try:
        ch.encode("cp932")
    except UnicodeEncodeError:
        return True
    return False


def detect_language(text: str) -> str | None:
    """A BCP 47 tag (`ja`, `en`, and by script `ko` or `zh`) for text with letters in it, else None."""
    sample = text[:_MAX_CHARS]
    letters = kana = han = hangul = 0
    for ch in sample:
        if ch.isalpha():
            letters += 1
            if _kana(ch):
                kana += 1
            elif "\u4e00" <= ch <= "\u9fff":
                han += 1
            elif _hangul(ch):
                hangul += 1
    if not letters:
        return None
    if hangul * 5 >= letters and hangul > kana + han:
        return "ko"
    if (kana + han) * 5 >= letters:
        if not kana and any(_not_written_in_japanese(ch) for ch in sample):
            return "zh"
        return "ja"
    detector = _detector if _detector is not None else _build()
    language = detector.detect_language_of(sample)
    if language is None:
        return None
    return str(language.iso_code_639_1.name.lower())
