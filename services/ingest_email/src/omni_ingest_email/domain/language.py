"""Language of short customer texts, Japanese and English first-class (lingua, built once, lazily)."""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_detector: Any = None


def _build() -> Any:
    global _detector
    with _lock:
        if _detector is None:
            from lingua import Language, LanguageDetectorBuilder

            _detector = LanguageDetectorBuilder.from_languages(Language.ENGLISH, Language.JAPANESE).build()
    return _detector


def _has_kana_or_kanji(text: str) -> bool:
    return any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in text)


def detect_language(text: str) -> str | None:
    """A BCP 47 tag (`ja`, `en`) for text with letters in it, else None."""
    sample = text[:2000]
    if not any(ch.isalpha() for ch in sample):
        return None
    if _has_kana_or_kanji(sample) and sum(1 for ch in sample if _has_kana_or_kanji(ch)) * 5 >= sum(
        1 for ch in sample if ch.isalpha()
    ):
        return "ja"  # Japanese script carries the message; lingua agrees, this just skips the model
    detector = _detector if _detector is not None else _build()
    language = detector.detect_language_of(sample)
    if language is None:
        return None
    return str(language.iso_code_639_1.name.lower())
