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


def detect_language(text: str) -> str | None:
    """A BCP 47 tag (`ja`, `en`) for text with letters in it, else None."""
    if not any(ch.isalpha() for ch in text):
        return None
    detector = _detector if _detector is not None else _build()
    language = detector.detect_language_of(text[:2000])
    if language is None:
        return None
    return str(language.iso_code_639_1.name.lower())
