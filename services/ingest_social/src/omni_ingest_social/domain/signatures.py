"""Proof that a delivery came from its provider: each provider's recipe over the raw body, constant-time."""

from __future__ import annotations

import base64
import hashlib
import hmac
from enum import StrEnum


class SignatureCheck(StrEnum):
    """The outcome of a check; the value is the metric label of a rejection."""

    VALID = "valid"
    MISSING = "missing_signature"
    INVALID = "bad_signature"


def _compare(expected: str, given: str | None) -> SignatureCheck:
    if not given:
        return SignatureCheck.MISSING
    ok = hmac.compare_digest(expected.encode("ascii"), given.strip().encode("utf-8", "replace"))
    return SignatureCheck.VALID if ok else SignatureCheck.INVALID


def _hmac256(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()


def meta_signature(app_secret: str, body: bytes) -> str:
    """`X-Hub-Signature-256`: "sha256=" + lower-case hex HMAC-SHA256(app secret, raw body)."""
    return "sha256=" + _hmac256(app_secret, body).hex()


def check_meta(app_secret: str, body: bytes, header: str | None) -> SignatureCheck:
    if header and header.strip().lower().startswith("sha256="):
        # Meta sends lower-case hex; accept an upper-cased hex digest without weakening the comparison
        header = "sha256=" + header.strip()[7:].lower()
    return _compare(meta_signature(app_secret, body), header)


def line_signature(channel_secret: str, body: bytes) -> str:
    """`X-Line-Signature`: base64 HMAC-SHA256(channel secret, raw body)."""
    return base64.b64encode(_hmac256(channel_secret, body)).decode("ascii")


def check_line(channel_secret: str, body: bytes, header: str | None) -> SignatureCheck:
    return _compare(line_signature(channel_secret, body), header)


def check_telegram(secret_token: str, header: str | None) -> SignatureCheck:
    """`X-Telegram-Bot-Api-Secret-Token` must equal the secret given to setWebhook (no HMAC exists)."""
    return _compare(secret_token, header)


def x_signature(consumer_secret: str, message: bytes) -> str:
    """X's recipe for both the CRC response token and `x-twitter-webhooks-signature`."""
    return "sha256=" + base64.b64encode(_hmac256(consumer_secret, message)).decode("ascii")


def x_crc_response(consumer_secret: str, crc_token: str) -> dict[str, str]:
    """The JSON body answering X's challenge-response check."""
    return {"response_token": x_signature(consumer_secret, crc_token.encode("utf-8"))}


def check_x(consumer_secret: str, body: bytes, header: str | None) -> SignatureCheck:
    return _compare(x_signature(consumer_secret, body), header)


def meta_verification(verify_token: str, *, mode: str | None, token: str | None, challenge: str | None) -> str | None:
    """The body to echo for Meta's subscription GET, or None when it must be refused (403)."""
    if mode != "subscribe" or token is None or challenge is None:
        return None
    if not hmac.compare_digest(verify_token.encode("utf-8"), token.encode("utf-8", "replace")):
        return None
    return challenge
