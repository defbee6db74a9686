"""Language of short customer texts: Japanese and English first, Korean and simplified Chinese by script."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omni_service.language import detect_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("注文した商品がまだ届きません。確認していただけますか？", "ja"),
        ("こんにちは", "ja"),
        ("返金してください", "ja"),  # kanji and kana
        ("注文番号", "ja"),  # kanji only, all of them Japanese
        ("配送状況", "ja"),
        ("領収書発行", "ja"),
        ("ｶﾀｶﾅ", "ja"),
        ("お問い合わせ番号 ABC-123 について", "ja"),
        ("Where is my order? It has not arrived yet.", "en"),
        ("ok", "en"),
        ("Thanks!", "en"),
        ("주문한 상품이 아직 도착하지 않았습니다", "ko"),
        ("안녕하세요", "ko"),
        ("我的订单还没到", "zh"),  # 订 单 还: simplified forms Japanese is not written with
        ("谢谢", "zh"),
        ("我的order还没到", "zh"),
        ("12345 !!!", None),
        ("", None),
        ("👍", None),
    ],
)
def test_language_of_short_texts(text: str, expected: str | None) -> None:
    assert detect_language(text) == expected


def test_kana_makes_a_text_japanese_whatever_its_kanji() -> None:
    # 这 is not a Japanese character, but a text with kana is Japanese quoting it
    assert detect_language("「这」という字は日本語では使いません") == "ja"


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=200))
def test_language_is_one_of_the_known_tags_or_none_for_any_text(text: str) -> None:
    assert detect_language(text) in {"ja", "en", "ko", "zh", None}
