"""The signature builders agree with published test vectors and with omni's own verifiers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omni_sim.domain.payloads import HttpDelivery, Route, Secrets, build_delivery
from omni_sim.domain.scenario import ScenarioConfig, generate
from omni_sim.domain.signing import (
    line_signature,
    mailgun_signature,
    meta_signature,
    twilio_signature,
    x_signature,
)

NOW = datetime(2026, 11, 20, 1, 2, 3, tzinfo=UTC)
BASE = {
    "ingest_chat": "http://127.0.0.1:8002",
    "ingest_email": "http://127.0.0.1:8001",
    "ingest_social": "http://127.0.0.1:8003",
}


def test_twilio_signature_matches_twilio_python_test_vector() -> None:
    # twilio-python tests/unit/test_request_validator.py
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_twilio_signature_sorts_and_dedupes_repeated_values() -> None:
    pairs = [("b", "2"), ("a", "y"), ("a", "x"), ("a", "x")]
    expected = base64.b64encode(hmac.new(b"t", b"http://h/pa" + b"xay" + b"b2", hashlib.sha1).digest()).decode()
    assert twilio_signature("t", "http://h/p", pairs) == expected


def test_meta_line_x_and_mailgun_follow_the_published_recipes() -> None:
    body = b'{"text":"\\u3053\\u3093\\u306b\\u3061\\u306f"}'
    assert meta_signature("s", body) == "sha256=" + hmac.new(b"s", body, hashlib.sha256).hexdigest()
    assert line_signature("s", body) == base64.b64encode(hmac.new(b"s", body, hashlib.sha256).digest()).decode()
    assert (
        x_signature("s", body) == "sha256=" + base64.b64encode(hmac.new(b"s", body, hashlib.sha256).digest()).decode()
    )
    assert (
        mailgun_signature("k", timestamp="1403645220", token="abc")
        == hmac.new(b"k", b"1403645220abc", hashlib.sha256).hexdigest()
    )


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _contacts(route: Route) -> list:
    cfg = ScenarioConfig(seconds=200, rate=2.0, route_weights={route: 1.0}, follow_up_probability=0.5)
    return generate(cfg, seed=3, run_id="r1").contacts[:20]


@pytest.mark.skipif(not _has("omni_ingest_social.domain.signatures"), reason="ingest_social not installed")
@pytest.mark.parametrize(
    "route", [Route.WHATSAPP, Route.MESSENGER, Route.INSTAGRAM, Route.LINE, Route.TELEGRAM, Route.X]
)
def test_social_deliveries_pass_ingest_socials_own_verifiers(route: Route) -> None:
    from omni_ingest_social.domain import signatures as v

    secrets = Secrets()
    for contact in _contacts(route):
        d = build_delivery(contact, now=NOW, secrets=secrets, base_urls=BASE)
        assert isinstance(d, HttpDelivery)
        h = dict(d.headers)
        json.loads(d.body)
        if route is Route.LINE:
            assert v.check_line(secrets.line_channel_secret, d.body, h["X-Line-Signature"]) == v.SignatureCheck.VALID
        elif route is Route.TELEGRAM:
            token = h["X-Telegram-Bot-Api-Secret-Token"]
            assert v.check_telegram(secrets.telegram_secret_token, token) == v.SignatureCheck.VALID
        elif route is Route.X:
            sig = h["x-twitter-webhooks-signature"]
            assert v.check_x(secrets.x_consumer_secret, d.body, sig) == v.SignatureCheck.VALID
        else:
            sig = h["X-Hub-Signature-256"]
            assert v.check_meta(secrets.meta_app_secret, d.body, sig) == v.SignatureCheck.VALID
            assert v.check_meta("other-secret", d.body, sig) == v.SignatureCheck.INVALID


@pytest.mark.skipif(not _has("omni_ingest_chat.domain.twilio_signature"), reason="ingest_chat not installed")
def test_twilio_deliveries_pass_ingest_chats_own_verifier() -> None:
    from omni_ingest_chat.domain.twilio_signature import group_params, is_valid_signature

    secrets = Secrets()
    for contact in _contacts(Route.TWILIO_SMS):
        d = build_delivery(contact, now=NOW, secrets=secrets, base_urls=BASE)
        assert isinstance(d, HttpDelivery)
        params = group_params(parse_qsl(d.body.decode(), keep_blank_values=True))
        url = BASE["ingest_chat"] + d.path
        assert is_valid_signature(secrets.twilio_auth_token, url, params, dict(d.headers)["X-Twilio-Signature"])
        assert not is_valid_signature("wrong", url, params, dict(d.headers)["X-Twilio-Signature"])


@settings(max_examples=100)
@given(token=st.text(min_size=1, max_size=20), body=st.text(max_size=200), url=st.text(min_size=1, max_size=50))
def test_twilio_signature_is_independent_of_param_order(token: str, body: str, url: str) -> None:
    pairs = [("Body", body), ("From", "+81901234567"), ("To", "+15005550006")]
    assert twilio_signature(token, url, pairs) == twilio_signature(token, url, list(reversed(pairs)))


@pytest.mark.skipif(not _has("omni_ingest_email.domain.mailgun"), reason="ingest_email not installed")
def test_mailgun_deliveries_pass_ingest_emails_own_verifier_and_retries_get_fresh_tokens() -> None:
    from omni_ingest_email.domain.mailgun import signature_problem

    secrets = Secrets()
    tokens = set()
    for contact in _contacts(Route.MAILGUN)[:5]:
        for attempt in range(2):
            now = NOW.replace(second=attempt)
            d = build_delivery(contact, now=now, secrets=secrets, base_urls=BASE)
            assert isinstance(d, HttpDelivery)
            form = dict(parse_qsl(d.body.decode()))
            tokens.add(form["token"])
            fields = {k: form[k] for k in ("timestamp", "token", "signature")}
            assert signature_problem(secrets.mailgun_signing_key, **fields, now=now.timestamp()) is None
            assert signature_problem("other", **fields, now=now.timestamp()) == "bad_signature"
    assert len(tokens) == 10
