"""SendGrid Inbound Parse and Mailgun route posts, in the providers' formats, to the same ParsedEmail."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from datetime import UTC, datetime
from uuid import uuid4

import email_samples as samples
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omni_ingest_email.domain import (
    MalformedEmail,
    ParsedEmail,
    choose_thread_key,
    dedupe_key,
    parse_rfc5322,
    to_message,
)
from omni_ingest_email.domain.forms import parse_form
from omni_ingest_email.domain.mailgun import parse_mailgun, signature_problem
from omni_ingest_email.domain.sendgrid import basic_auth_ok, parse_sendgrid
from omni_schemas import Provider, new_event, to_record


def test_sendgrid_parsed_mode_decodes_fields_in_their_posted_charsets() -> None:
    ctype, body = samples.multipart(samples.SENDGRID_JAPANESE_FIELDS, [samples.SENDGRID_ATTACHMENT])
    mail = parse_sendgrid(parse_form(ctype, body))
    assert mail.subject == "注文番号42について"
    assert mail.text == "お世話になっております。\n配送状況を教えてください。"
    assert mail.from_address == "taro.yamada@example.jp"
    assert mail.from_name == "山田 太郎"
    assert mail.message_id == "sg-ja-1@example.jp"
    assert mail.references[0] == "ticket-7-root@example.com"
    assert mail.envelope_to == ("support@parse.example.com",)
    assert [(a.filename, a.content_type, a.size_bytes) for a in mail.attachments] == [
        ("見積書.pdf", "application/pdf", len(samples.SENDGRID_ATTACHMENT[3]))
    ]


def test_sendgrid_raw_mode_parses_the_email_field_like_smtp() -> None:
    ctype, body = samples.multipart(
        {"envelope": '{"to":["support@parse.example.com"],"from":"alice@example.org"}', "email": samples.ENGLISH_REPLY}
    )
    via_sendgrid = parse_sendgrid(parse_form(ctype, body))
    via_smtp = parse_rfc5322(samples.ENGLISH_REPLY)
    assert via_sendgrid.text == via_smtp.text
    assert choose_thread_key(via_sendgrid) == choose_thread_key(via_smtp)
    assert via_sendgrid.envelope_to == ("support@parse.example.com",)


def test_sendgrid_html_only_post_becomes_text() -> None:
    fields = dict(samples.SENDGRID_JAPANESE_FIELDS)
    del fields["text"]
    mail = parse_sendgrid(parse_form(*samples.multipart(fields)))
    assert mail.text == "お世話になっております。"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"text": "hi"}, "from"),
        ({"from": "a@example.org", "envelope": "{not json"}, "envelope"),
        ({"from": "a@example.org", "envelope": '{"to": 5}'}, "envelope.to"),
        ({"from": "a@example.org", "charsets": "[1]"}, "charsets"),
        ({"email": "  "}, "email"),
    ],
)
def test_sendgrid_malformed_posts_name_the_field(fields: dict[str, bytes | str], field: str) -> None:
    with pytest.raises(MalformedEmail) as err:
        parse_sendgrid(parse_form(*samples.multipart(fields)))
    assert err.value.field == field


def test_basic_auth_is_checked_for_user_and_password() -> None:
    good = "Basic " + base64.b64encode(b"parse:s3cret").decode()
    assert basic_auth_ok(good, user="parse", password="s3cret")
    assert not basic_auth_ok(good, user="parse", password="other")
    assert not basic_auth_ok("Basic " + base64.b64encode(b"parse").decode(), user="parse", password="")
    assert not basic_auth_ok("Bearer x", user="parse", password="s3cret")
    assert not basic_auth_ok("Basic !!!", user="parse", password="s3cret")
    assert not basic_auth_ok(None, user="parse", password="s3cret")


def _sign(key: str, timestamp: str, token: str) -> str:
    return hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def test_mailgun_signature_recipe_freshness_and_tampering() -> None:
    now = 1_715_680_000.0
    ts, token = str(int(now)), "5egbgr1vjgqxtrnp65xfznchgdccwh5d6i09vijqi3whgowmn6"
    good = _sign("key-1", ts, token)
    assert signature_problem("key-1", timestamp=ts, token=token, signature=good, now=now) is None
    assert signature_problem("key-1", timestamp=ts, token=token, signature=good.upper(), now=now + 899) is None
    assert signature_problem("key-2", timestamp=ts, token=token, signature=good, now=now) == "bad_signature"
    assert signature_problem("key-1", timestamp=ts, token=token + "x", signature=good, now=now) == "bad_signature"
    assert signature_problem("key-1", timestamp=ts, token=token, signature=good, now=now + 901) == "stale_timestamp"
    assert signature_problem("key-1", timestamp=ts, token=token, signature=None, now=now) == "missing_signature"
    assert signature_problem("key-1", timestamp="soon", token=token, signature=good, now=now) == "bad_signature"
    assert signature_problem("key-1", timestamp=ts, token=token, signature="é" + good[1:], now=now) == "bad_signature"


def test_mailgun_urlencoded_route_post_threads_from_message_headers() -> None:
    import urllib.parse

    body = urllib.parse.urlencode(samples.MAILGUN_FIELDS).encode()
    mail = parse_mailgun(parse_form("application/x-www-form-urlencoded", body))
    assert mail.text == "Thanks!"
    assert mail.message_id == "mg-1@example.org"
    assert mail.references == ("ticket-42-root@mg.example.com", "ticket-42-msg-1@mg.example.com")
    assert mail.envelope_to == ("support@mg.example.com",)
    assert mail.envelope_from == "alice@example.org"
    assert mail.sent_at == datetime(2024, 5, 14, 10, 0, tzinfo=UTC)


def test_mailgun_urlencoded_japanese_fields_keep_their_utf8() -> None:
    import urllib.parse

    fields = {
        **samples.MAILGUN_FIELDS,
        "subject": "配送について",
        "body-plain": "商品がまだ届きません。",
        "from": "山田 <y@example.jp>",
    }
    mail = parse_mailgun(parse_form("application/x-www-form-urlencoded", urllib.parse.urlencode(fields).encode()))
    assert (mail.subject, mail.text, mail.from_name) == ("配送について", "商品がまだ届きません。", "山田")


def test_mailgun_multipart_with_attachment_and_raw_mime_mode() -> None:
    ctype, body = samples.multipart(samples.MAILGUN_FIELDS, [("attachment-1", "photo.jpg", "image/jpeg", b"\xff\xd8")])
    mail = parse_mailgun(parse_form(ctype, body))
    assert [(a.filename, a.content_type, a.size_bytes) for a in mail.attachments] == [("photo.jpg", "image/jpeg", 2)]
    ctype, body = samples.multipart({"recipient": "support@mg.example.com", "body-mime": samples.JAPANESE_ISO2022})
    raw_mode = parse_mailgun(parse_form(ctype, body))
    assert raw_mode.subject == "注文番号42について"


def test_form_errors_are_malformed_not_crashes() -> None:
    with pytest.raises(MalformedEmail):
        parse_form("application/json", b"{}")
    with pytest.raises(MalformedEmail):
        parse_form("multipart/form-data", b"--x\r\n")
    with pytest.raises(MalformedEmail):
        parse_form("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\nv\r\n")


@settings(max_examples=150, deadline=None)
@given(
    st.binary(max_size=600),
    st.sampled_from(["multipart/form-data; boundary=xYzZY", "application/x-www-form-urlencoded"]),
)
def test_any_posted_bytes_parse_or_are_malformed(body: bytes, ctype: str) -> None:
    try:
        form = parse_form(ctype, b"--xYzZY\r\n" + body if ctype.startswith("multipart") else body)
        parse_sendgrid(form)
        parse_mailgun(form)
    except MalformedEmail:
        pass


def test_normalized_event_carries_threading_language_and_flags() -> None:
    mail = parse_rfc5322(samples.JAPANESE_ISO2022, envelope_to=["support@example.com"])
    received = datetime(2024, 5, 14, 10, 5, 3, tzinfo=UTC)
    message = to_message(
        mail,
        provider=Provider.SMTP,
        thread_key=choose_thread_key(mail).thread_key,
        message_id=uuid4(),
        received_at=received,
    )
    assert message.thread_key == "email:ticket-7-root@example.com"
    assert message.language == "ja"
    assert message.customer.address == "taro.yamada@example.jp"
    assert message.customer.display_name == "山田 太郎"
    assert message.provider_message_id == "20240514190500.ABCD@example.jp"
    assert message.full_text is not None and "> " in message.full_text
    assert message.email is not None and message.email.envelope_to == ["support@example.com"]
    assert not message.auto_reply


def test_english_text_is_detected_and_bounces_are_flagged_in_the_event() -> None:
    mail = parse_rfc5322(samples.BOUNCE_DSN)
    message = to_message(
        mail, provider=Provider.SMTP, thread_key="email:x", message_id=uuid4(), received_at=datetime.now(UTC)
    )
    assert message.auto_reply
    assert message.language == "en"


def test_mail_without_any_sender_cannot_become_a_message() -> None:
    mail = parse_rfc5322(b"Subject: x\r\n\r\nbody\r\n")
    with pytest.raises(MalformedEmail):
        to_message(
            mail, provider=Provider.SMTP, thread_key="email:x", message_id=uuid4(), received_at=datetime.now(UTC)
        )


def test_dedupe_key_is_stable_across_relays_but_differs_for_reused_message_ids() -> None:
    relayed = b"Received: from backup-mx.example.com\r\n" + samples.ENGLISH_REPLY
    assert dedupe_key(parse_rfc5322(samples.ENGLISH_REPLY)) == dedupe_key(parse_rfc5322(relayed))
    other_body = samples.ENGLISH_REPLY.replace(b"Thanks!", b"Hello!")
    assert dedupe_key(parse_rfc5322(other_body)) != dedupe_key(parse_rfc5322(samples.ENGLISH_REPLY))
    assert dedupe_key(parse_rfc5322(samples.NO_MESSAGE_ID)).startswith("fp:")


STORED_ATTACHMENTS = (
    '[{"url": "https://storage.us.mailgun.net/v3/domains/mg.example.com/messages/AgEFX/attachments/0",'
    ' "content-type": "application/pdf", "name": "見積書.pdf", "size": 48213},'
    ' {"url": "https://storage.us.mailgun.net/v3/domains/mg.example.com/messages/AgEFX/attachments/1",'
    ' "content-type": "image/png", "name": "image001.png", "size": 2048}]'
)


def test_mailgun_store_notify_lists_the_stored_attachments_with_their_urls() -> None:
    import urllib.parse

    fields = {**samples.MAILGUN_FIELDS, "attachments": STORED_ATTACHMENTS, "message-url": "https://x/messages/AgEFX"}
    fields.pop("attachment-count")
    mail = parse_mailgun(parse_form("application/x-www-form-urlencoded", urllib.parse.urlencode(fields).encode()))
    assert [(a.filename, a.content_type, a.size_bytes) for a in mail.attachments] == [
        ("見積書.pdf", "application/pdf", 48213),
        ("image001.png", "image/png", 2048),
    ]
    message = to_message(
        mail, provider=Provider.MAILGUN, thread_key="email:x", message_id=uuid4(), received_at=datetime.now(UTC)
    )
    assert message.attachments[0].url == (
        "https://storage.us.mailgun.net/v3/domains/mg.example.com/messages/AgEFX/attachments/0"
    )


@pytest.mark.parametrize("value", ["{not json", '{"url": "x"}', '["x"]'])
def test_mailgun_malformed_stored_attachments_name_the_field(value: str) -> None:
    import urllib.parse

    body = urllib.parse.urlencode({**samples.MAILGUN_FIELDS, "attachments": value}).encode()
    with pytest.raises(MalformedEmail) as err:
        parse_mailgun(parse_form("application/x-www-form-urlencoded", body))
    assert err.value.field == "attachments"


def test_sendgrid_parsed_iso_2022_jp_text_with_nec_characters() -> None:
    fields = {
        **samples.SENDGRID_JAPANESE_FIELDS,
        "text": b'\x1b$B-!$N7o!"-j%5%s%W%k$N|b66$G$9!#\x1b(B\n',
        "subject": b"\x1b$B-!$N7o$K$D$$$F\x1b(B",
    }
    mail = parse_sendgrid(parse_form(*samples.multipart(fields)))
    assert (mail.subject, mail.text) == ("①の件について", "①の件、㈱サンプルの髙橋です。")


def _published(provider: Provider, mail: ParsedEmail) -> bytes:
    """The Kafka record value of the mail's event: where an unusable string would fail to validate or encode."""
    message = to_message(
        mail, provider=provider, thread_key="email:x", message_id=uuid4(), received_at=datetime.now(UTC)
    )
    return to_record(new_event("omni.message.received.v1", message, source="test")).value


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"], ids=["crlf", "lf"])
@pytest.mark.parametrize(
    "text",
    [
        "The upload log shows --xYzZY right where it stopped.",
        "Quoting the raw post: --xYzZY--\nplease check it.",
        "Our label reads\n--xYzZY-2024-05 on the parcel.",
    ],
    ids=["mid-line", "mid-line-close", "line-start-with-more"],
)
def test_boundary_text_inside_a_field_value_is_not_a_delimiter(text: str, newline: bytes) -> None:
    # before: the body was split wherever "--" + boundary appeared, so these posts were refused as malformed
    ctype, body = samples.multipart({"from": "a@example.org", "text": text, "subject": "Upload"})
    form = parse_form(ctype, body.replace(b"\r\n", newline))
    assert form.fields == {"from": b"a@example.org", "text": text.encode(), "subject": b"Upload"}
    assert parse_sendgrid(form).subject == "Upload"


def test_delimiter_lines_may_carry_transport_padding_and_a_preamble_and_epilogue_are_ignored() -> None:
    ctype, body = samples.multipart({"from": "a@example.org", "text": "hi"})
    padded = body.replace(b"--xYzZY\r\n", b"--xYzZY \t\r\n").replace(b"--xYzZY--\r\n", b"--xYzZY--  \r\n")
    form = parse_form(ctype, b"This is a multi-part message.\r\n" + padded + b"epilogue --xYzZY\r\n")
    assert form.fields == {"from": b"a@example.org", "text": b"hi"}


def test_multipart_without_a_close_delimiter_line_is_malformed() -> None:
    ctype, body = samples.multipart({"from": "a@example.org", "text": "hi"})
    with pytest.raises(MalformedEmail):
        parse_form(ctype, body.replace(b"\r\n--xYzZY--", b"\r\nthe end: --xYzZY--"))


_DEEP_JSON = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("field", ["envelope", "charsets", "attachment-info"])
def test_sendgrid_json_nested_too_deeply_is_malformed_not_a_crash(field: str) -> None:
    # before: RecursionError escaped json.loads (not a ValueError) and the post got a 500
    with pytest.raises(MalformedEmail) as err:
        parse_sendgrid(parse_form(*samples.multipart({"from": "a@example.org", "text": "hi", field: _DEEP_JSON})))
    assert err.value.field == field


@pytest.mark.parametrize("field", ["message-headers", "attachments"])
def test_mailgun_json_nested_too_deeply_is_malformed_not_a_crash(field: str) -> None:
    body = urllib.parse.urlencode({**samples.MAILGUN_FIELDS, field: _DEEP_JSON}).encode()
    with pytest.raises(MalformedEmail) as err:
        parse_mailgun(parse_form("application/x-www-form-urlencoded", body))
    assert err.value.field == field


def test_sendgrid_charsets_naming_unusable_codecs_fall_back_instead_of_crashing() -> None:
    # "undefined" is a codec that refuses everything (UnicodeError), "\ud800" and a NUL fail the codec lookup
    charsets = {"from": "undefined", "text": "utf-8\u0000", "subject": "\ud800", "html": "punycode"}
    fields = {"from": "Zoë <z@example.org>", "text": "Grüße", "subject": "Frage", "charsets": json.dumps(charsets)}
    mail = parse_sendgrid(parse_form(*samples.multipart(fields)))
    assert (mail.from_name, mail.text, mail.subject) == ("Zoë", "Grüße", "Frage")
    assert _published(Provider.SENDGRID, mail)


def test_lone_surrogates_escaped_in_provider_json_do_not_break_the_event() -> None:
    # JSON may escape a lone surrogate ("\ud800"); such strings cannot be encoded into the event
    info = {"attachment1": {"filename": "offer\ud800.pdf", "type": "application/pdf"}}
    fields = {
        "from": "a@example.org",
        "text": "see attached",
        "envelope": json.dumps({"to": ["support\udce9@parse.example.com"], "from": "b\ud800@example.org"}),
        "attachment-info": json.dumps(info),
    }
    ctype, body = samples.multipart(fields, [("attachment1", "", "application/pdf", b"%PDF")])
    sendgrid = parse_sendgrid(parse_form(ctype, body))
    assert [a.content_type for a in sendgrid.attachments] == ["application/pdf"]
    assert _published(Provider.SENDGRID, sendgrid)
    stored = [{"url": "https://x.example/\ud800", "content-type": "image/\ud800", "name": "\ud800.png", "size": 1}]
    mg_body = urllib.parse.urlencode({**samples.MAILGUN_FIELDS, "attachments": json.dumps(stored)}).encode()
    mailgun = parse_mailgun(parse_form("application/x-www-form-urlencoded", mg_body))
    assert [a.size_bytes for a in mailgun.attachments] == [1]
    assert _published(Provider.MAILGUN, mailgun)
    # in message-headers, the stdlib's own header lookup (Content-Type) raised on the surrogate
    pairs = [
        ["From", "\ud800 <a@example.org>"],
        ["Subject", "Re: \ud800"],
        ["Content-Type", "text/plain; charset=\ud800"],
    ]
    fields = {"recipient": "support@mg.example.com", "body-plain": "Thanks!", "message-headers": json.dumps(pairs)}
    listed = parse_mailgun(parse_form("application/x-www-form-urlencoded", urllib.parse.urlencode(fields).encode()))
    assert (listed.from_address, listed.text) == ("a@example.org", "Thanks!")
    assert _published(Provider.MAILGUN, listed)


def test_form_file_named_in_an_rfc_2231_charset_that_cannot_decode_keeps_its_name() -> None:
    body = (
        b'--xYzZY\r\nContent-Disposition: form-data; name="from"\r\n\r\na@example.org\r\n'
        b"--xYzZY\r\nContent-Disposition: form-data; name=\"attachment1\"; filename*=undefined''offer.pdf\r\n"
        b"Content-Type: application/pdf\r\n\r\n%PDF\r\n--xYzZY--\r\n"
    )
    form = parse_form("multipart/form-data; boundary=xYzZY", body)
    assert [(f.name, f.filename, f.content_type, f.data) for f in form.files] == [
        ("attachment1", "offer.pdf", "application/pdf", b"%PDF")
    ]


_UNSORTABLE = "; name*=x; name*0*=utf-8''y"  # the stdlib raises TypeError sorting these RFC 2231 continuations


def test_unsortable_rfc_2231_parameters_in_a_form_are_malformed_or_ignored_not_a_crash() -> None:
    ctype, body = samples.multipart({"from": "a@example.org", "text": "hi"})
    with pytest.raises(MalformedEmail) as err:
        parse_form(ctype + _UNSORTABLE, body)
    assert err.value.field == "content-type"
    broken_name = body.replace(b'name="text"', b'name="text"' + _UNSORTABLE.encode())
    with pytest.raises(MalformedEmail) as err:
        parse_form(ctype, broken_name)
    assert err.value.field == "body"
    broken_type = body.replace(
        b'name="text"\r\n', b'name="text"\r\nContent-Type: text/plain' + _UNSORTABLE.encode() + b"\r\n"
    )
    assert parse_form(ctype, broken_type).fields == {"from": b"a@example.org", "text": b"hi"}
