from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from social_samples import LINE_TEXT, MESSENGER_TEXT, X_DM, line_sig, meta_sig, x_sig

from omni_ingest_social.domain import (
    SignatureCheck,
    check_line,
    check_meta,
    check_telegram,
    check_x,
    line_signature,
    meta_signature,
    meta_verification,
    x_crc_response,
)


def test_line_signature_matches_the_line_sdk_test_vector() -> None:
    # line-bot-sdk-python tests/test_webhook.py: SignatureValidator('channel_secret')
    assert line_signature("channel_secret", b"bodybodybodybody") == "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7k="
    assert check_line("channel_secret", b"bodybodybodybody", "invalid_signature") is SignatureCheck.INVALID


def test_meta_signature_matches_the_published_x_hub_signature_256_vector() -> None:
    # the same "sha256=" + hex HMAC-SHA256 recipe, with GitHub's documented example values
    assert meta_signature("It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_meta_signature_over_raw_bytes_accepts_sample_and_rejects_reserialized_json() -> None:
    header = meta_sig("app-secret", MESSENGER_TEXT)
    assert check_meta("app-secret", MESSENGER_TEXT, header) is SignatureCheck.VALID
    assert check_meta("app-secret", MESSENGER_TEXT.replace(b"\n", b""), header) is SignatureCheck.INVALID
    assert check_meta("other-secret", MESSENGER_TEXT, header) is SignatureCheck.INVALID
    assert check_meta("app-secret", MESSENGER_TEXT, None) is SignatureCheck.MISSING
    assert check_meta("app-secret", MESSENGER_TEXT, "") is SignatureCheck.MISSING
    assert check_meta("app-secret", MESSENGER_TEXT, header.removeprefix("sha256=")) is SignatureCheck.INVALID


def test_meta_signature_covers_escaped_unicode_bytes_as_sent() -> None:
    body = b'{"object":"page","entry":[],"t":"\\u00e4"}'
    assert check_meta("s", body, meta_sig("s", body)) is SignatureCheck.VALID
    assert check_meta("s", '{"object":"page","entry":[],"t":"ä"}'.encode(), meta_sig("s", body)) is (
        SignatureCheck.INVALID
    )


def test_line_signature_of_sample_and_japanese_body() -> None:
    assert check_line("secret", LINE_TEXT, line_sig("secret", LINE_TEXT)) is SignatureCheck.VALID
    body = '{"events":[{"type":"message","message":{"text":"こんにちは"}}]}'.encode()
    assert check_line("secret", body, line_sig("secret", body)) is SignatureCheck.VALID
    assert check_line("secret", body + b" ", line_sig("secret", body)) is SignatureCheck.INVALID
    assert check_line("secret", body, None) is SignatureCheck.MISSING


def test_telegram_secret_token_is_compared_exactly() -> None:
    assert check_telegram("tok_EN-123", "tok_EN-123") is SignatureCheck.VALID
    assert check_telegram("tok_EN-123", "tok_EN-124") is SignatureCheck.INVALID
    assert check_telegram("tok_EN-123", "tok_EN-12") is SignatureCheck.INVALID
    assert check_telegram("tok_EN-123", None) is SignatureCheck.MISSING
    assert check_telegram("tok_EN-123", "トークン") is SignatureCheck.INVALID


def test_x_crc_response_follows_the_documented_recipe() -> None:
    digest = hmac.new(b"consumer-secret", b"crc-token-123", hashlib.sha256).digest()
    assert x_crc_response("consumer-secret", "crc-token-123") == {
        "response_token": "sha256=" + base64.b64encode(digest).decode()
    }


def test_x_post_signature_over_raw_body() -> None:
    assert check_x("cs", X_DM, x_sig("cs", X_DM)) is SignatureCheck.VALID
    assert check_x("cs", X_DM, x_sig("cs", X_DM + b"\n")) is SignatureCheck.INVALID
    assert check_x("cs", X_DM, None) is SignatureCheck.MISSING


@pytest.mark.parametrize(
    ("mode", "token", "challenge", "expected"),
    [
        ("subscribe", "meatyhamhock", "1158201444", "1158201444"),
        ("subscribe", "wrong", "1158201444", None),
        ("unsubscribe", "meatyhamhock", "1158201444", None),
        (None, "meatyhamhock", "1158201444", None),
        ("subscribe", None, "1158201444", None),
        ("subscribe", "meatyhamhock", None, None),
    ],
)
def test_meta_verification_echoes_challenge_only_for_the_right_token(
    mode: str | None, token: str | None, challenge: str | None, expected: str | None
) -> None:
    assert meta_verification("meatyhamhock", mode=mode, token=token, challenge=challenge) == expected


@settings(max_examples=100)
@given(secret=st.text(min_size=1, max_size=40), body=st.binary(max_size=300), flip=st.integers(min_value=0))
def test_any_changed_byte_breaks_every_hmac_signature(secret: str, body: bytes, flip: int) -> None:
    if not body:
        body = b"{}"
    i = flip % len(body)
    tampered = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
    assert check_meta(secret, body, meta_signature(secret, body)) is SignatureCheck.VALID
    assert check_meta(secret, tampered, meta_signature(secret, body)) is SignatureCheck.INVALID
    assert check_line(secret, tampered, line_signature(secret, body)) is SignatureCheck.INVALID
    assert check_x(secret, tampered, x_sig(secret, body)) is SignatureCheck.INVALID
