"""Provider payloads parse back into what was planned, in each provider's real format."""

from __future__ import annotations

import base64
import email
import email.policy
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs

from omni_sim.domain.payloads import HttpDelivery, MailDelivery, Route, Secrets, build_delivery
from omni_sim.domain.scenario import ScenarioConfig, generate
from omni_sim.domain.truth import find_ref

NOW = datetime(2026, 11, 20, 1, 2, 3, tzinfo=UTC)
BASE = {
    "ingest_chat": "http://127.0.0.1:8002",
    "ingest_email": "http://127.0.0.1:8001",
    "ingest_social": "http://127.0.0.1:8003",
}


def _plan(route: Route, *, japanese: float = 0.5):
    cfg = ScenarioConfig(
        seconds=200, rate=2.0, route_weights={route: 1.0}, follow_up_probability=0.6, japanese_share=japanese
    )
    return generate(cfg, seed=11, run_id="r9")


def test_japanese_smtp_mail_is_iso_2022_jp_and_decodes_back() -> None:
    plan = _plan(Route.SMTP, japanese=1.0)
    contact = plan.contacts[0]
    d = build_delivery(contact, now=NOW, secrets=Secrets(), base_urls=BASE)
    assert isinstance(d, MailDelivery)
    assert b"iso-2022-jp" in d.raw.lower()
    d.raw.decode("ascii")  # 7-bit on the wire, as Japanese mail is
    msg = email.message_from_bytes(d.raw, policy=email.policy.default)
    assert str(msg["Subject"]) == contact.subject
    assert find_ref(msg.get_content()) == contact.ref
    assert msg["Message-ID"] == contact.provider_message_id


def test_follow_up_mail_threads_by_in_reply_to_and_references() -> None:
    plan = _plan(Route.SMTP, japanese=0.0)
    replies = [c for c in plan.contacts if c.in_reply_to]
    assert replies
    reply = replies[0]
    first = next(c for c in plan.contacts if c.thread == reply.thread and c.in_reply_to is None)
    d = build_delivery(reply, now=NOW, secrets=Secrets(), base_urls=BASE)
    assert isinstance(d, MailDelivery)
    msg = email.message_from_bytes(d.raw, policy=email.policy.default)
    assert msg["In-Reply-To"] == first.provider_message_id
    assert first.provider_message_id in msg["References"]
    assert str(msg["Subject"]).startswith("Re: ")


def test_mailgun_form_carries_routes_fields_and_signature_trio() -> None:
    contact = _plan(Route.MAILGUN).contacts[0]
    d = build_delivery(contact, now=NOW, secrets=Secrets(), base_urls=BASE)
    assert isinstance(d, HttpDelivery)
    form = {k: v[0] for k, v in parse_qs(d.body.decode("ascii")).items()}
    for name in (
        "recipient",
        "sender",
        "from",
        "subject",
        "body-plain",
        "message-headers",
        "timestamp",
        "token",
        "signature",
    ):
        assert name in form
    assert form["timestamp"] == str(int(NOW.timestamp()))
    assert find_ref(form["body-plain"]) == contact.ref
    assert ["Message-Id", contact.provider_message_id] in json.loads(form["message-headers"])


def test_sendgrid_parse_post_is_multipart_with_charsets_and_basic_auth() -> None:
    contact = _plan(Route.SENDGRID, japanese=1.0).contacts[0]
    d = build_delivery(contact, now=NOW, secrets=Secrets(), base_urls=BASE)
    assert isinstance(d, HttpDelivery)
    headers = dict(d.headers)
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"dev-sendgrid:dev-sendgrid-password").decode()
    framed = f"Content-Type: {headers['Content-Type']}\r\n\r\n".encode() + d.body
    form = email.message_from_bytes(framed, policy=email.policy.default)
    assert form.is_multipart()
    fields = {
        part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
        for part in form.iter_parts()
    }
    assert {"headers", "text", "from", "to", "subject", "envelope", "charsets", "dkim", "SPF"} <= set(fields)
    charsets = json.loads(fields["charsets"])
    assert charsets["text"] == "iso-2022-jp"
    assert find_ref(fields["text"].decode(charsets["text"])) == contact.ref
    head = email.message_from_bytes(fields["headers"], policy=email.policy.default)
    assert head["Message-ID"] == contact.provider_message_id
    assert str(head["Subject"]) == contact.subject
    assert json.loads(fields["envelope"])["from"] == contact.customer.email


def test_every_route_names_the_contract_endpoint() -> None:
    expected = {
        Route.MAILGUN: "/webhooks/email/mailgun",
        Route.SENDGRID: "/webhooks/email/sendgrid",
        Route.TWILIO_SMS: "/webhooks/sms/twilio",
        Route.WHATSAPP: "/webhooks/meta",
        Route.MESSENGER: "/webhooks/meta",
        Route.INSTAGRAM: "/webhooks/meta",
        Route.LINE: "/webhooks/line",
        Route.TELEGRAM: "/webhooks/telegram",
        Route.X: "/webhooks/x",
    }
    for route, path in expected.items():
        d = build_delivery(_plan(route).contacts[0], now=NOW, secrets=Secrets(), base_urls=BASE)
        assert isinstance(d, HttpDelivery)
        assert d.path == path
    chat = _plan(Route.WEBCHAT).contacts[0]
    d = build_delivery(chat, now=NOW, secrets=Secrets(), base_urls=BASE)
    assert isinstance(d, HttpDelivery)
    assert d.path == f"/v1/chat/sessions/{chat.chat_session}/messages"
    body = json.loads(d.body)
    assert body["visitor"]["id"] == chat.customer.key
    assert find_ref(body["text"]) == chat.ref


def test_meta_bodies_escape_non_ascii_like_meta_does() -> None:
    plan = _plan(Route.WHATSAPP, japanese=1.0)
    d = build_delivery(plan.contacts[0], now=NOW, secrets=Secrets(), base_urls=BASE)
    assert isinstance(d, HttpDelivery)
    d.body.decode("ascii")
    doc = json.loads(d.body)
    message = doc["entry"][0]["changes"][0]["value"]["messages"][0]
    assert message["text"]["body"] == plan.contacts[0].text
    assert isinstance(message["timestamp"], str)
