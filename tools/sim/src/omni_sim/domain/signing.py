"""Each provider's signature recipe, as the provider computes it (contract section 5, channels.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """`X-Twilio-Signature`: base64 HMAC-SHA1(auth token, full URL + each key and value, keys sorted).

    Values of a repeated key are sorted and de-duplicated, as twilio-python's RequestValidator does.
    """
    pairs = params.items() if isinstance(params, Mapping) else params
    grouped: dict[str, set[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, set()).add(value)
    message = url + "".join(key + value for key in sorted(grouped) for value in sorted(grouped[key]))
    digest = hmac.new(auth_token.encode("utf-8"), message.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def meta_signature(app_secret: str, body: bytes) -> str:
    """`X-Hub-Signature-256`: "sha256=" + lower-case hex HMAC-SHA256(app secret, raw body)."""
    return "sha256=" + hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def line_signature(channel_secret: str, body: bytes) -> str:
    """`X-Line-Signature`: base64 HMAC-SHA256(channel secret, raw body)."""
    digest = hmac.new(channel_secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def x_signature(consumer_secret: str, message: bytes) -> str:
    """`x-twitter-webhooks-signature` (and the CRC response token): "sha256=" + base64 HMAC-SHA256."""
    digest = hmac.new(consumer_secret.encode("utf-8"), message, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode("ascii")


def mailgun_signature(signing_key: str, *, timestamp: str, token: str) -> str:
    """Mailgun's `signature` field: lower-case hex HMAC-SHA256(signing key, timestamp + token)."""
    return hmac.new(signing_key.encode("utf-8"), (timestamp + token).encode("ascii"), hashlib.sha256).hexdigest()
