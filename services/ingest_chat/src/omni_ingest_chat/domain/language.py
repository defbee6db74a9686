"""Language of short customer texts; Japanese and English first-class.

lingua (restricted to English and Japanese, so short texts are decided well and fast) is built
once, lazily, on first use or by `warm_up()` at start-up. Kana settle Japanese without a model.
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


def _has_kana(text: str) -> bool:
    return any("\u3040" <= ch <= "\u30ff" or "\uff66" <= ch <= "\uff9d" for ch in text)


def detect_language(text: str) -> str | None:
    """A BCP 47 tag (`ja` or `en`) for text with letters in it, else None."""
    sample = text[:_MAX_CHARS]
    if not any(ch.isalpha() for ch in sample):
        return None
    if _has_kana(sample):
        return "ja"
    detector = _detector if _detector is not None else _build()
    language = detector.detect_language_of(sample)
    if language is None:
        return None
    return str(language.iso_code_639_1.name.lower())
