"""X-Twilio-Signature: twilio-python's published test vectors and the recipe's properties."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omni_ingest_chat.domain.twilio_signature import (
    body_hash_matches,
    compute_signature,
    is_valid_signature,
    url_variants,
)

# twilio/twilio-python tests/unit/test_request_validator.py
TOKEN = "12345"
URI = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": ["CA1234567890ABCDE"],
    "Digits": ["1234"],
    "From": ["+14158675309"],
    "To": ["+18005551212"],
    "Caller": ["+14158675309"],
}
EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_published_vector_computes_expected_signature() -> None:
    assert compute_signature(TOKEN, URI, PARAMS) == EXPECTED
    assert is_valid_signature(TOKEN, URI, PARAMS, EXPECTED)


def test_published_vector_repeated_keys_are_sorted_and_deduplicated() -> None:
    params = {"Sid": ["CA123"], "SidAccount": ["AC123"], "Digits": ["5678", "1234"]}
    assert compute_signature(TOKEN, URI, params) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    doubled = {"Sid": ["CA123", "CA123"], "SidAccount": ["AC123"], "Digits": ["1234", "5678", "1234"]}
    assert compute_signature(TOKEN, URI, doubled) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


@pytest.mark.parametrize(
    ("uri", "signature"),
    [
        pytest.param(URI.replace(".com", ".com:1234"), EXPECTED, id="https-port-removed"),
        pytest.param(
            URI.replace(".com", ".com:1234").replace("https", "http"),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
            id="http-own-port",
        ),
        pytest.param(URI, "kvajT1Ptam85bY51eRf/AJRuM3w=", id="https-default-port-added"),
        pytest.param(URI.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4=", id="http-default-port-added"),
    ],
)
def test_published_vectors_port_quirk(uri: str, signature: str) -> None:
    assert is_valid_signature(TOKEN, uri, PARAMS, signature)


def test_published_vector_json_body_hash() -> None:
    body = b'{"property": "value", "boolean": true}'
    uri = URI + "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    assert body_hash_matches(uri, body)
    assert is_valid_signature(TOKEN, uri, {}, "a9nBmqA0ju/hNViExpshrM61xv4=")
    assert not body_hash_matches(uri, body + b" ")


def test_wrong_token_params_url_or_missing_header_fail() -> None:
    assert not is_valid_signature("54321", URI, PARAMS, EXPECTED)
    assert not is_valid_signature(TOKEN, URI, {**PARAMS, "Digits": ["1235"]}, EXPECTED)
    assert not is_valid_signature(TOKEN, URI.replace("foo=1", "foo=2"), PARAMS, EXPECTED)
    assert not is_valid_signature(TOKEN, URI, PARAMS, None)
    assert not is_valid_signature(TOKEN, URI, PARAMS, "")
    assert not is_valid_signature("", URI, PARAMS, EXPECTED)


def test_url_variants_keep_host_case_and_ipv6() -> None:
    assert url_variants("https://Example.COM:8443/a?b") == ("https://Example.COM/a?b", "https://Example.COM:8443/a?b")
    assert url_variants("http://[::1]/x") == ("http://[::1]/x", "http://[::1]:80/x")


def _reference(token: str, url: str, params: dict[str, list[str]]) -> str:
    data = url + "".join(k + v for k in sorted(params) for v in sorted(set(params[k])))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


@settings(max_examples=100, deadline=None)
@given(
    params=st.dictionaries(st.text(min_size=1, max_size=12), st.lists(st.text(max_size=20), min_size=1, max_size=3)),
    token=st.text(min_size=1, max_size=32),
)
def test_signature_is_the_documented_recipe_and_order_independent(params: dict[str, list[str]], token: str) -> None:
    url = "https://omni.example.jp/webhooks/sms/twilio"
    signature = compute_signature(token, url, params)
    assert signature == _reference(token, url, params)
    reordered = {k: list(reversed(v)) for k, v in reversed(list(params.items()))}
    assert is_valid_signature(token, url, reordered, signature)
