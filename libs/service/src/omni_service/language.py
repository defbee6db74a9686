"""Language of short customer texts, Japanese and English first-class; one detector for every channel.

lingua, restricted to English and Japanese (so short texts are decided well and fast), is built
once, lazily, on first use or by `warm_up()` at start-up. Where Japanese script carries at least a
fifth of the letters the answer is `ja` without the model. Pure: no I/O, no clock. The ingest
services declare `lingua-language-detector` among their dependencies.
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


def _japanese_script(ch: str) -> bool:
    return "\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" or "\uff66" <= ch <= "\uff9d"


def detect_language(text: str) -> str | None:
    """A BCP 47 tag (`ja` or `en`) for text with letters in it, else None."""
    sample = text[:_MAX_CHARS]
    letters = sum(1 for ch in sample if ch.isalpha())
    if not letters:
        return None
    if sum(1 for ch in sample if _japanese_script(ch)) * 5 >= letters:
        return "ja"
    detector = _detector if _detector is not None else _build()
    language = detector.detect_language_of(sample)
    if language is None:
        return None
    return str(language.iso_code_639_1.name.lower())
