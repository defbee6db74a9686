"""Twilio's `X-Twilio-Signature`, computed exactly as twilio-python's RequestValidator does.

    signature = base64(HMAC-SHA1(auth_token, url + concat(k + v for k in sorted(keys)
                                                            for v in sorted(set(values[k])))))

`url` is the exact URL Twilio called, query string included. A signature is accepted when it
matches the URL without its port or the URL with the scheme's default port added (Twilio signs
one or the other depending on how the webhook URL was configured). JSON-bodied webhooks carry
`bodySHA256=<hex sha256(body)>` in the query and are signed over the URL with no parameters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import parse_qs, urlsplit, urlunsplit

Params = Mapping[str, Sequence[str]]

_DEFAULT_PORTS = {"https": 443, "http": 80}


def group_params(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Form pairs (as decoded from the body, repeats kept) grouped by key in arrival order."""
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return grouped


def compute_signature(auth_token: str, url: str, params: Params) -> str:
    """The base64 HMAC-SHA1 Twilio sends for a request to `url` carrying `params`."""
    parts = [url]
    for key in sorted(params):
        for value in sorted(set(params[key])):
            parts.append(key + value)
    mac = hmac.new(auth_token.encode(), "".join(parts).encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def url_variants(url: str) -> tuple[str, str]:
    """The URL without its port, and the URL with its port (the scheme's default when absent)."""
    split = urlsplit(url)
    userinfo, _, hostport = split.netloc.rpartition("@")
    prefix = f"{userinfo}@" if userinfo else ""
    # the host exactly as written (case kept, as Twilio signs it); brackets kept for IPv6
    host = (
        hostport[: hostport.index("]") + 1] if hostport.startswith("[") and "]" in hostport else hostport.split(":")[0]
    )
    try:
        port = split.port
    except ValueError:
        port = None
    if port is None:
        port = _DEFAULT_PORTS.get(split.scheme.lower())
    without_port = urlunsplit(split._replace(netloc=prefix + host))
    with_port = urlunsplit(split._replace(netloc=f"{prefix}{host}:{port}")) if port is not None else without_port
    return without_port, with_port


def body_hash_matches(url: str, body: bytes) -> bool:
    """For JSON-bodied webhooks: the URL's `bodySHA256` equals the SHA-256 of the raw body."""
    values = parse_qs(urlsplit(url).query).get("bodySHA256")
    if not values:
        return False
    return hmac.compare_digest(hashlib.sha256(body).hexdigest(), values[0].lower())


def is_valid_signature(auth_token: str, url: str, params: Params, signature: str | None) -> bool:
    """True when `signature` is Twilio's for this URL (with or without port) and parameters."""
    if not signature or not auth_token:
        return False
    given = signature.strip().encode()
    matched = False
    for candidate in set(url_variants(url)):
        # both variants are always computed and compared: no early exit on the first match
        expected = compute_signature(auth_token, candidate, params).encode()
        matched |= hmac.compare_digest(expected, given)
    return matched
