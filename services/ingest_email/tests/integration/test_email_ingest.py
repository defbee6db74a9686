"""Every inbound format, end to end on the real Kafka and Redis: the event is read back from Kafka."""

from __future__ import annotations

import asyncio
import base64
import smtplib
import time
import urllib.parse
import uuid
from typing import Any

import email_samples as samples
import pytest

from omni_ingest_email.app import create_app
from omni_ingest_email.settings import EmailSettings
from omni_schemas import CloudEvent
from omni_service.kafka import EventPublisher
from omni_service.metrics import ServiceMetrics
from omni_service.testing import read_events, running_app, wait_ready

pytestmark = pytest.mark.integration

AUTH = {"Authorization": "Basic " + base64.b64encode(b"parse:parse-secret").decode()}
TOPIC = "omni.messages.v1"


async def _events(settings: EmailSettings, count: int, *, settle_s: float = 0.0) -> list[CloudEvent]:
    return await read_events(
        settings.kafka_bootstrap_servers, settings.topic(TOPIC), count=count, timeout_s=15, settle_s=settle_s
    )


def _mailgun_body(fields: dict[str, str], *, token: str | None = None, timestamp: int | None = None) -> bytes:
    signed = samples.mailgun_signed(
        fields, timestamp=timestamp or int(time.time()), token=token or uuid.uuid4().hex + uuid.uuid4().hex[:18]
    )
    return urllib.parse.urlencode(signed).encode()


_FORM = {"content-type": "application/x-www-form-urlencoded"}


def _smtp_send(port: int, raw: bytes, *, mail_from: str, rcpt: list[str]) -> dict[str, Any]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        return client.sendmail(mail_from, rcpt, raw)


async def test_sendgrid_parsed_japanese_post_becomes_one_event_and_redelivery_adds_none(
    email_settings: EmailSettings,
) -> None:
    ctype, body = samples.multipart(samples.SENDGRID_JAPANESE_FIELDS, [samples.SENDGRID_ATTACHMENT])
    async with running_app(create_app(email_settings)) as client:
        await wait_ready(client)
        first = await client.post("/webhooks/email/sendgrid", content=body, headers={"content-type": ctype, **AUTH})
        again = await client.post("/webhooks/email/sendgrid", content=body, headers={"content-type": ctype, **AUTH})
    assert first.status_code == 200, first.text
    assert (first.json()["status"], again.json()["status"]) == ("accepted", "duplicate")
    assert again.json()["message_id"] == first.json()["message_id"]
    events = await _events(email_settings, 1, settle_s=1.0)
    assert len(events) == 1
    data = events[0].data
    assert events[0].type == "omni.message.received.v1"
    assert str(data.message_id) == first.json()["message_id"]
    assert data.provider.value == "sendgrid"
    assert data.thread_key == "email:ticket-7-root@example.com"
    assert events[0].subject == data.thread_key
    assert data.subject == "注文番号42について"
    assert data.text == "お世話になっております。\n配送状況を教えてください。"
    assert data.language == "ja"
    assert data.customer.address == "taro.yamada@example.jp"
    assert [(a.filename, a.content_type) for a in data.attachments] == [("見積書.pdf", "application/pdf")]


async def test_sendgrid_raw_mode_html_only_mail(email_settings: EmailSettings) -> None:
    ctype, body = samples.multipart(
        {"envelope": '{"to":["support@parse.example.com"],"from":"bob@example.net"}', "email": samples.HTML_ONLY_QP}
    )
    async with running_app(create_app(email_settings)) as client:
        await wait_ready(client)
        response = await client.post("/webhooks/email/sendgrid", content=body, headers={"content-type": ctype, **AUTH})
    assert response.status_code == 200, response.text
    [event] = await _events(email_settings, 1)
    assert event.data.text == "Hi team,\n\nMy invoice #981 shows the wrong amount. Café order."
    assert event.data.language == "en"
    assert event.data.email.envelope_to == ["support@parse.example.com"]


async def test_wrong_credentials_signatures_and_malformed_bodies_publish_nothing(email_settings: EmailSettings) -> None:
    ctype, body = samples.multipart({"email": samples.ENGLISH_REPLY})
    stale = int(time.time()) - 16 * 60
    async with running_app(create_app(email_settings)) as client:
        await wait_ready(client)
        no_auth = await client.post("/webhooks/email/sendgrid", content=body, headers={"content-type": ctype})
        bad_sig = await client.post(
            "/webhooks/email/mailgun",
            content=_mailgun_body(samples.MAILGUN_FIELDS).replace(b"signature=", b"signature=0"),
            headers=_FORM,
        )
        stale_sig = await client.post(
            "/webhooks/email/mailgun", content=_mailgun_body(samples.MAILGUN_FIELDS, timestamp=stale), headers=_FORM
        )
        malformed = await client.post(
            "/webhooks/email/sendgrid", content=b"not a form", headers={"content-type": "text/plain", **AUTH}
        )
        no_sender = await client.post(
            "/webhooks/email/mailgun",
            content=_mailgun_body({"body-plain": "hello", "recipient": "support@mg.example.com"}),
            headers=_FORM,
        )
        too_big = await client.post(
            "/webhooks/email/sendgrid",
            content=b"x" * 10,
            headers={"content-type": ctype, "content-length": str(email_settings.max_body_bytes + 1), **AUTH},
        )
        metrics = (await client.get("/metrics")).text
    assert no_auth.status_code == 401 and no_auth.headers["www-authenticate"].startswith("Basic")
    assert (bad_sig.status_code, bad_sig.json()["error"]["code"]) == (401, "unauthorized")
    assert "stale_timestamp" in stale_sig.json()["error"]["message"]
    assert malformed.status_code == 400 and "content-type" in malformed.json()["error"]["message"]
    assert no_sender.status_code == 400 and no_sender.json()["error"]["message"].startswith("from")
    assert too_big.status_code == 413
    assert 'omni_ingest_rejected_total{provider="mailgun",reason="bad_signature",service="ingest_email"} 1.0' in metrics
    assert await _events(email_settings, 0, settle_s=1.0) == []


async def test_mailgun_token_replay_is_refused_but_a_redelivery_of_the_same_mail_is_a_duplicate(
    email_settings: EmailSettings,
) -> None:
    token = uuid.uuid4().hex * 2
    now = int(time.time())
    original = _mailgun_body(samples.MAILGUN_FIELDS, token=token, timestamp=now)
    forged_fields = {**samples.MAILGUN_FIELDS, "body-plain": "Please refund me to account 666", "Message-Id": "<x@y>"}
    forged_fields.pop("message-headers")
    forged = _mailgun_body(forged_fields, token=token, timestamp=now)
    async with running_app(create_app(email_settings)) as client:
        await wait_ready(client)
        first = await client.post("/webhooks/email/mailgun", content=original, headers=_FORM)
        redelivered = await client.post("/webhooks/email/mailgun", content=original, headers=_FORM)
        resigned = await client.post(
            "/webhooks/email/mailgun", content=_mailgun_body(samples.MAILGUN_FIELDS), headers=_FORM
        )
        replay = await client.post("/webhooks/email/mailgun", content=forged, headers=_FORM)
    assert first.status_code == 200, first.text
    assert redelivered.json()["status"] == resigned.json()["status"] == "duplicate"
    assert replay.status_code == 401 and "token_reused" in replay.text
    events = await _events(email_settings, 1, settle_s=1.0)
    assert len(events) == 1
    assert events[0].data.provider.value == "mailgun"
    assert events[0].data.text == "Thanks!"
    assert events[0].data.thread_key == "email:ticket-42-root@mg.example.com"


async def test_smtp_mail_reaches_kafka_and_a_reply_without_references_joins_its_thread(
    email_settings: EmailSettings,
) -> None:
    first_reply = samples.JAPANESE_ISO2022  # References: <ticket-7-root@...> <ticket-7-msg-1@...>
    # a mailer that drops References and answers only the customer's own message id
    second = (
        b"From: taro.yamada@example.jp\r\nTo: support@example.com\r\nSubject: Re: 42\r\n"
        b"Message-ID: <second@example.jp>\r\nIn-Reply-To: <20240514190500.ABCD@example.jp>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "追加の質問です。".encode() + b"\r\n"
    )
    app = create_app(email_settings)
    async with running_app(app) as client:
        await wait_ready(client)
        port = app.state.smtp.port
        refused = await asyncio.to_thread(
            _smtp_send, port, first_reply, mail_from="taro.yamada@example.jp", rcpt=["support@example.com"]
        )
        await asyncio.to_thread(
            _smtp_send, port, second, mail_from="taro.yamada@example.jp", rcpt=["Support@Example.com"]
        )
        await asyncio.to_thread(
            _smtp_send, port, first_reply, mail_from="taro.yamada@example.jp", rcpt=["support@example.com"]
        )
        await asyncio.to_thread(_smtp_send, port, samples.BOUNCE_DSN, mail_from="", rcpt=["support@example.com"])
        metrics = (await client.get("/metrics")).text
    assert refused == {}
    events = await _events(email_settings, 3, settle_s=1.0)
    assert len(events) == 3  # the re-sent first mail is a duplicate
    by_id = {e.data.provider_message_id: e.data for e in events}
    first_data = by_id["20240514190500.ABCD@example.jp"]
    assert first_data.provider.value == "smtp"
    assert first_data.subject == "注文番号42について"
    assert first_data.email.envelope_to == ["support@example.com"]
    assert by_id["second@example.jp"].thread_key == first_data.thread_key == "email:ticket-7-root@example.com"
    bounce = by_id["20240518030000.DSN1@mx.example.com"]
    assert bounce.auto_reply
    assert 'omni_ingest_deduplicated_total{provider="smtp",service="ingest_email"} 1.0' in metrics
    assert (
        'omni_ingest_email_auto_replies_total{provider="smtp",reason="auto_submitted",service="ingest_email"} 1.0'
        in metrics
    )


async def test_unavailable_kafka_answers_503_and_451_and_the_retry_is_accepted_once_kafka_is_back(
    email_settings: EmailSettings,
) -> None:
    token = uuid.uuid4().hex * 2
    body = _mailgun_body(samples.MAILGUN_FIELDS, token=token)
    down = EventPublisher(
        bootstrap="127.0.0.1:9", service="ingest_email", metrics=ServiceMetrics("ingest_email"), ack_timeout_s=1
    )
    app = create_app(email_settings, publisher=down)
    async with running_app(app) as client:
        refused = await client.post("/webhooks/email/mailgun", content=body, headers=_FORM)
        ready = await client.get("/readyz")
        with pytest.raises(smtplib.SMTPDataError) as smtp_refused:
            await asyncio.to_thread(
                _smtp_send, app.state.smtp.port, samples.ENGLISH_REPLY, mail_from="alice@example.org", rcpt=["s@x.com"]
            )
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "kafka_unavailable"
    assert refused.headers["retry-after"]
    assert ready.status_code == 503
    assert smtp_refused.value.smtp_code == 451
    # Kafka is back (the service restarted with a working producer): the provider's retries go through
    app = create_app(email_settings)
    async with running_app(app) as client:
        await wait_ready(client)
        retried = await client.post("/webhooks/email/mailgun", content=body, headers=_FORM)
        await asyncio.to_thread(
            _smtp_send, app.state.smtp.port, samples.ENGLISH_REPLY, mail_from="alice@example.org", rcpt=["s@x.com"]
        )
    assert retried.status_code == 200, retried.text
    events = await _events(email_settings, 2, settle_s=1.0)
    assert sorted(e.data.provider.value for e in events) == ["mailgun", "smtp"]


async def test_oversize_smtp_mail_gets_552(kafka_bootstrap: str, topic_suffix: str, redis_url: str) -> None:
    settings = EmailSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        redis_url=redis_url,
        omni_topic_suffix=topic_suffix,
        smtp_host="127.0.0.1",
        smtp_port=0,
        max_body_bytes=2048,
        log_format="console",
    )
    app = create_app(settings)
    async with running_app(app) as client:
        await wait_ready(client)
        with pytest.raises(smtplib.SMTPException) as err:
            await asyncio.to_thread(
                _smtp_send,
                app.state.smtp.port,
                samples.ENGLISH_REPLY + b"x" * 4096 + b"\r\n",
                mail_from="alice@example.org",
                rcpt=["s@x.com"],
            )
    assert "552" in str(err.value)
    assert await read_events(kafka_bootstrap, settings.topic(TOPIC), count=0, timeout_s=2, settle_s=1.0) == []


async def test_smtputf8_japanese_mail_is_accepted_and_a_senderless_mail_gets_554(email_settings: EmailSettings) -> None:
    raw = (
        "From: 山田 太郎 <taro@例え.jp>\r\nTo: サポート <support@example.com>\r\nSubject: 返品について\r\n"
        "Message-ID: <utf8-1@例え.jp>\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n返品したいのですが、手続きを教えてください。\r\n"
    ).encode()

    def send_utf8(port: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.ehlo()
            client.sendmail("taro@例え.jp", ["support@example.com"], raw, mail_options=["SMTPUTF8"])

    def send_senderless(port: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.sendmail("", ["support@example.com"], b"Subject: no one\r\n\r\nhello\r\n")

    app = create_app(email_settings)
    async with running_app(app) as client:
        await wait_ready(client)
        await asyncio.to_thread(send_utf8, app.state.smtp.port)
        with pytest.raises(smtplib.SMTPDataError) as refused:
            await asyncio.to_thread(send_senderless, app.state.smtp.port)
    assert refused.value.smtp_code == 554
    events = await _events(email_settings, 1, settle_s=1.0)
    assert len(events) == 1
    data = events[0].data
    assert (data.customer.address, data.customer.display_name) == ("taro@例え.jp", "山田 太郎")
    assert data.text == "返品したいのですが、手続きを教えてください。"
    assert data.language == "ja"


async def test_smtp_outlook_japanese_mail_and_a_backslash_subject_are_queued_and_decoded(
    email_settings: EmailSettings,
) -> None:
    # before: the first leaked raw ISO-2022-JP escapes into the event, the second was refused with
    # 451 on every retry (a crash decoding its Subject) until the sending MTA bounced it
    backslash = (
        b"From: a@example.org\r\nTo: support@example.com\r\nMessage-ID: <share-1@example.org>\r\n"
        b"Subject: =?UTF-8?B?5YWx5pyJ44OV44Kp44Or44OA?= \\\\fs01\\users\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nThe share is gone.\r\n"
    )
    app = create_app(email_settings)
    async with running_app(app) as client:
        await wait_ready(client)
        port = app.state.smtp.port
        for raw, sender in ((samples.CP50220_OUTLOOK, "takahashi@sample.co.jp"), (backslash, "a@example.org")):
            refused = await asyncio.to_thread(_smtp_send, port, raw, mail_from=sender, rcpt=["support@example.com"])
            assert refused == {}
    events = await _events(email_settings, 2, settle_s=1.0)
    by_id = {e.data.provider_message_id: e.data for e in events}
    assert len(by_id) == 2
    outlook = by_id["cp50220-1@sample.co.jp"]
    assert (outlook.subject, outlook.text) == ("①の件について", samples.CP50220_TEXT)
    assert outlook.customer.display_name == "髙橋 一郎"
    assert outlook.language == "ja"
    assert by_id["share-1@example.org"].subject == "共有フォルダ \\\\fs01\\users"


async def test_mailgun_store_notify_publishes_the_stored_attachments(email_settings: EmailSettings) -> None:
    fields = {
        **samples.MAILGUN_FIELDS,
        "message-url": "https://storage.us.mailgun.net/v3/domains/mg.example.com/messages/AgEFX",
        "attachments": (
            '[{"url": "https://storage.us.mailgun.net/v3/domains/mg.example.com/messages/AgEFX/attachments/0",'
            ' "content-type": "application/pdf", "name": "invoice.pdf", "size": 48213}]'
        ),
    }
    fields.pop("attachment-count")
    async with running_app(create_app(email_settings)) as client:
        await wait_ready(client)
        response = await client.post("/webhooks/email/mailgun", content=_mailgun_body(fields), headers=_FORM)
    assert response.status_code == 200, response.text
    [event] = await _events(email_settings, 1)
    [attachment] = event.data.attachments
    assert (attachment.filename, attachment.content_type, attachment.size_bytes) == (
        "invoice.pdf",
        "application/pdf",
        48213,
    )
    assert attachment.url == "https://storage.us.mailgun.net/v3/domains/mg.example.com/messages/AgEFX/attachments/0"


async def test_hostile_but_real_smtp_mails_are_queued_instead_of_refused_with_451(
    email_settings: EmailSettings,
) -> None:
    # before: each raised inside the parser, so the sending MTA got 451 on every retry until it bounced the mail
    undecodable = (
        b"From: a@example.org\r\nTo: support@example.com\r\nMessage-ID: <cs-undefined@example.org>\r\n"
        b"Subject: =?undefined?q?Caf=C3=A9?=\r\nContent-Type: text/plain; charset=undefined\r\n\r\nCaf\xc3\xa9\r\n"
    )
    deep = (
        b"From: a@example.org\r\nTo: support@example.com\r\nMessage-ID: <deep@example.org>\r\nSubject: nested\r\n"
        + b"Content-Type: message/rfc822\r\n\r\n" * 1500
        + b"inner\r\n"
    )
    latin1_envelope = b"From: a@example.org\r\nMessage-ID: <env8@example.org>\r\nSubject: hi\r\n\r\nhello\r\n"

    def send(port: int, raw: bytes, *, mail_from: str, rcpt: str) -> dict[str, Any]:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.command_encoding = "latin-1"  # an old relay writing Latin-1 addresses as raw 8-bit bytes
            return client.sendmail(mail_from, [rcpt], raw)

    app = create_app(email_settings)
    async with running_app(app) as client:
        await wait_ready(client)
        port = app.state.smtp.port
        for raw, mail_from, rcpt in (
            (undecodable, "a@example.org", "support@example.com"),
            (deep, "a@example.org", "support@example.com"),
            (latin1_envelope, "j\xe9r\xf4me@example.fr", "ventes-\xe9quipe@example.com"),
        ):
            assert await asyncio.to_thread(send, port, raw, mail_from=mail_from, rcpt=rcpt) == {}
    events = await _events(email_settings, 3, settle_s=1.0)
    by_id = {e.data.provider_message_id: e.data for e in events}
    assert len(by_id) == 3
    assert (by_id["cs-undefined@example.org"].subject, by_id["cs-undefined@example.org"].text) == ("Café", "Café")
    assert (by_id["deep@example.org"].subject, by_id["deep@example.org"].text) == ("nested", "")
    latin1 = by_id["env8@example.org"]
    assert latin1.customer.address == "a@example.org"
    assert latin1.email is not None and len(latin1.email.envelope_to) == 1
