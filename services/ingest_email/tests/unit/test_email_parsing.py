"""Raw RFC 5322 mails as real mailers send them, parsed into the facts the event carries."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import email_samples as samples
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omni_ingest_email.domain import ParsedEmail, parse_rfc5322, to_message
from omni_ingest_email.domain.charsets import decode_bytes
from omni_ingest_email.domain.mime import message_ids
from omni_ingest_email.handlers import heavy_to_parse
from omni_schemas import Provider, new_event, parse_event, to_record
from omni_schemas.envelope import MAX_EVENT_BYTES


def test_plain_english_reply_strips_quote_and_signature_but_keeps_full_body() -> None:
    mail = parse_rfc5322(samples.ENGLISH_REPLY, envelope_from="alice@example.org", envelope_to=["Support@Example.com"])
    assert mail.text == "Thanks! The parcel has not arrived yet, can you check the tracking number?"
    assert "> Your order 42 has shipped." in mail.full_text
    assert "Alice Smith\nACME Corp" in mail.full_text
    assert mail.from_address == "alice@example.org"
    assert mail.from_name == "Alice Smith"
    assert mail.message_id == "reply-2@example.org"
    assert mail.in_reply_to == "ticket-42-msg-1@example.com"
    assert mail.references == ("ticket-42-root@example.com", "ticket-42-msg-1@example.com")
    assert mail.sent_at == datetime(2024, 5, 14, 10, 0, tzinfo=UTC)
    assert mail.envelope_to == ("support@example.com",)
    assert not mail.auto_reply


def test_iso_2022_jp_body_and_encoded_headers_decode_to_japanese() -> None:
    mail = parse_rfc5322(samples.JAPANESE_ISO2022)
    assert mail.subject == "注文番号42について"
    assert mail.from_name == "山田 太郎"
    assert mail.text == "山田様\n\nお世話になっております。\n注文番号42の配送状況を教えてください。"
    assert "2024年5月14日(火) 10:00 サポート <support@example.com>:" in mail.full_text
    assert mail.sent_at == datetime(2024, 5, 14, 10, 5, tzinfo=UTC)


def test_shift_jis_base64_keeps_microsoft_extension_characters() -> None:
    mail = parse_rfc5322(samples.SHIFT_JIS_BASE64)
    assert mail.subject == "①の件について"
    assert mail.from_name == "①の件について"
    assert "①の件、明日～明後日で対応可能でしょうか。" in mail.text
    assert "\ufffd" not in mail.full_text


def test_html_only_quoted_printable_becomes_text_without_the_gmail_quote() -> None:
    mail = parse_rfc5322(samples.HTML_ONLY_QP)
    assert mail.subject == "Invoice — wrong amount"
    assert mail.text == "Hi team,\n\nMy invoice #981 shows the wrong amount. Café order."
    assert "We will reply soon." in mail.full_text
    assert "<div" not in mail.full_text


def test_alternative_prefers_plain_and_lists_attachments_with_encoded_names() -> None:
    mail = parse_rfc5322(samples.ALTERNATIVE_WITH_ATTACHMENTS)
    assert mail.text.startswith("Please send a quote for the attached list.")
    assert "<b>" not in mail.text
    assert [(a.filename, a.content_type) for a in mail.attachments] == [
        ("list.pdf", "application/pdf"),
        ("見積書.pdf", "application/pdf"),
        ("請求書.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ]
    assert mail.attachments[0].size_bytes == 78
    assert mail.attachments[1].size_bytes == len(b"%PDF-1.4\n")
    assert mail.to == ("support@example.com", "sales@example.com")
    assert mail.cc == ("dave@example.com",)


def test_outlook_japanese_reply_cuts_at_original_message_separator() -> None:
    mail = parse_rfc5322(samples.OUTLOOK_JAPANESE_REPLY)
    assert mail.text == "ご回答ありがとうございます。\n承知いたしました。"
    assert mail.subject == "RE: お問い合わせ"
    assert mail.from_name == "鈴木 花子"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (samples.BOUNCE_DSN, "auto_submitted"),
        (samples.DSN_WITHOUT_AUTO_SUBMITTED, "delivery_status"),
        (samples.OUT_OF_OFFICE, "auto_submitted"),
        (samples.BULK_NEWSLETTER, "precedence"),
        (samples.OUT_OF_OFFICE.replace(b"Auto-Submitted: auto-replied\n", b"X-Autoreply: yes\n"), "x_autoreply"),
        (samples.OUT_OF_OFFICE.replace(b"Auto-Submitted: auto-replied\n", b"Auto-Submitted: no\n"), "subject"),
        (
            samples.NO_MESSAGE_ID.replace(b"From: nobody-knows@example.org", b"From: MAILER-DAEMON@example.org"),
            "mailer_daemon",
        ),
    ],
)
def test_machine_mail_is_flagged_with_its_reason(raw: bytes, reason: str) -> None:
    mail = parse_rfc5322(raw)
    assert mail.auto_reply
    assert mail.auto_reply_reason == reason


def test_null_reverse_path_marks_a_bounce() -> None:
    assert parse_rfc5322(samples.NO_MESSAGE_ID, envelope_from="").auto_reply_reason == "null_sender"
    assert parse_rfc5322(samples.NO_MESSAGE_ID, envelope_from="x@example.org").auto_reply_reason is None


def test_dsn_lists_its_report_parts_as_attachments_and_reads_the_notification() -> None:
    mail = parse_rfc5322(samples.BOUNCE_DSN)
    assert mail.text.startswith("This is the mail system")
    assert [a.content_type for a in mail.attachments] == ["message/delivery-status", "text/rfc822-headers"]


def test_format_flowed_soft_breaks_are_joined() -> None:
    raw = (
        b"From: a@example.org\r\nMessage-ID: <f@x>\r\n"
        b"Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes\r\n\r\n"
        b"This line is so long that the mailer broke it into two lines \r\nat the soft break.\r\n"
    )
    assert parse_rfc5322(raw).text == "This line is so long that the mailer broke it into two linesat the soft break."


def test_undeclared_iso_2022_jp_is_recognized_by_its_escape_sequences() -> None:
    data = "お問い合わせ".encode("iso2022_jp")
    assert decode_bytes(data, None) == "お問い合わせ"
    assert decode_bytes(data, "us-ascii") == "お問い合わせ"


def test_raw_8bit_utf8_headers_are_decoded() -> None:
    raw = "From: 山田 <y@example.jp>\r\nSubject: 返品について\r\nMessage-ID: <8bit@x>\r\n\r\n本文です。\r\n".encode()
    mail = parse_rfc5322(raw)
    assert mail.subject == "返品について"
    assert mail.text == "本文です。"


def test_message_ids_tolerate_comments_and_missing_brackets() -> None:
    assert message_ids("<a@b> (added by relay)") == ["a@b"]
    assert message_ids("  bare@id ") == ["bare@id"]
    assert message_ids("<r1@x>\r\n <r2@x>") == ["r1@x", "r2@x"]
    assert message_ids(None) == []


def test_missing_sender_fields_give_no_address() -> None:
    mail = parse_rfc5322(b"Subject: x\r\n\r\nbody\r\n")
    assert mail.from_address is None


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash_the_parser(raw: bytes) -> None:
    mail = parse_rfc5322(raw)
    assert isinstance(mail.text, str)
    assert mail.fingerprint


_WORD = st.text(alphabet="abcXYZ019あいうアイウ漢字日本語ー", min_size=1, max_size=8)
_LINE = st.lists(_WORD, min_size=1, max_size=6).map(" ".join)


@settings(max_examples=100, deadline=None)
@given(
    subject=_LINE,
    lines=st.lists(_LINE, min_size=1, max_size=8),
    charset=st.sampled_from(["utf-8", "iso-2022-jp", "shift_jis", "euc-jp"]),
)
def test_japanese_and_english_text_round_trips_in_every_charset(subject: str, lines: list[str], charset: str) -> None:
    from email.message import EmailMessage

    body = "\n".join(lines)
    msg = EmailMessage()
    msg["From"] = "Customer <c@example.org>"
    msg["Subject"] = subject
    msg["Message-ID"] = "<gen@example.org>"
    msg.set_content(body + "\n", charset=charset)
    mail = parse_rfc5322(msg.as_bytes())
    assert mail.full_text == body
    assert mail.text == body
    # the stdlib generator can drop a space where it folds between two encoded words; compare the words
    assert mail.subject is not None
    assert mail.subject.replace(" ", "") == subject.replace(" ", "")
    assert mail.from_address == "c@example.org"


def test_clean_text_decodes_escaped_bytes_and_drops_lone_surrogates() -> None:
    from omni_ingest_email.domain.charsets import clean_text

    assert clean_text("山田".encode().decode("utf-8", "surrogateescape")) == "山田"
    assert clean_text("了解".encode("cp932").decode("utf-8", "surrogateescape")) == "了解"
    assert clean_text("a\ud800b\x00") == "a?b"


def test_outlook_iso_2022_jp_with_nec_and_ibm_extensions_decodes_instead_of_leaking_escapes() -> None:
    mail = parse_rfc5322(samples.CP50220_OUTLOOK)
    assert mail.text == samples.CP50220_TEXT
    assert mail.subject == "①の件について"
    assert mail.from_name == "髙橋 一郎"
    assert "\x1b" not in mail.full_text


def test_eucjp_ms_extension_characters_decode() -> None:
    # eucJP-ms (CP51932): ① at 0xADA1, ～ at 0xA1C1, half-width kana after 0x8E
    data = b"\xad\xa1\xa4\xce\xb7\xef\xa1\xc1\x8e\xb6\x8e\xc0"
    assert decode_bytes(data, "EUC-JP") == "①の件～ｶﾀ"


@pytest.mark.parametrize(
    ("data", "charset", "text"),
    [
        (b"Don\x92t worry \x96 it\x92s fine", "iso-8859-1", "Don’t worry – it’s fine"),
        ("镕基你好".encode("gbk"), "gb2312", "镕基你好"),
        ("똠방각하".encode("cp949"), "ks_c_5601-1987", "똠방각하"),
    ],
)
def test_legacy_labels_are_read_through_their_windows_supersets(data: bytes, charset: str, text: str) -> None:
    assert decode_bytes(data, charset) == text


def test_a_backslash_beside_an_encoded_word_does_not_break_the_header() -> None:
    raw = (
        b"From: =?UTF-8?B?5bGx55Sw?= \\\\fs01 <y@example.jp>\r\nMessage-ID: <bs@x>\r\n"
        b"Subject: =?UTF-8?B?5YWx5pyJ44OV44Kp44Or44OA?= \\\\fs01\\share\\users\\2026\r\n\r\nbody\r\n"
    )
    mail = parse_rfc5322(raw)
    assert mail.subject == "共有フォルダ \\\\fs01\\share\\users\\2026"
    assert mail.from_address == "y@example.jp"


def test_headers_in_raw_iso_2022_jp_without_encoded_words_are_decoded() -> None:
    raw = (
        b"From: \x1b$B;3ED\x1b(B <yamada@example.jp>\r\nMessage-ID: <rawjis@x>\r\n"
        b"Subject: \x1b$B$*Ld$$9g$o$;\x1b(B\r\nContent-Type: text/plain; charset=iso-2022-jp\r\n\r\n"
        b"\x1b$B$3$s$K$A$O\x1b(B\r\n"
    )
    mail = parse_rfc5322(raw)
    assert mail.subject == "お問い合わせ"
    assert (mail.from_name, mail.from_address) == ("山田", "yamada@example.jp")


def test_raw_shift_jis_attachment_name_from_a_copier_is_decoded() -> None:
    raw = (
        b"From: scanner@example.co.jp\r\nMessage-ID: <scan@x>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nscan\r\n--b\r\n'
        b'Content-Type: application/pdf; name="' + "見積書①.pdf".encode("cp932") + b'"\r\n'
        b'Content-Disposition: attachment; filename="' + "見積書①.pdf".encode("cp932") + b'"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
    )
    assert [a.filename for a in parse_rfc5322(raw).attachments] == ["見積書①.pdf"]


def test_a_malformed_rfc_2231_parameter_does_not_lose_the_mail() -> None:
    raw = (
        b"From: a@example.org\r\nMessage-ID: <p2231@x>\r\nSubject: invoice\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n'
        b"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=utf-16''%FF%FEa\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
    )
    mail = parse_rfc5322(raw)
    assert mail.text == "See attached."
    assert [(a.content_type, a.size_bytes) for a in mail.attachments] == [("application/pdf", 9)]


@pytest.mark.parametrize(
    "subject",
    ["【自動返信】お問い合わせありがとうございます", "[自動応答] Re: 注文について", "（自動送信）受付完了のお知らせ"],
)
def test_bracketed_japanese_auto_reply_subjects_are_flagged(subject: str) -> None:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "info@shop.example.jp"
    msg["Subject"] = subject
    msg["Message-ID"] = "<ar@shop.example.jp>"
    msg.set_content("このメールは自動送信されています。")
    assert parse_rfc5322(msg.as_bytes()).auto_reply_reason == "subject"


def test_a_subject_that_only_mentions_an_auto_reply_is_a_person() -> None:
    raw = "From: a@example.jp\r\nSubject: Re: 自動応答の設定について\r\nMessage-ID: <p@x>\r\n\r\n質問です\r\n".encode()
    assert parse_rfc5322(raw).auto_reply_reason is None


def _published(mail: ParsedEmail) -> bytes:
    """The Kafka record value of the mail's event: where an unusable string would fail to validate or encode."""
    message = to_message(
        mail, provider=Provider.SMTP, thread_key="email:x", message_id=uuid4(), received_at=datetime.now(UTC)
    )
    return to_record(new_event("omni.message.received.v1", message, source="test")).value


def _alternative(plain: bytes) -> bytes:
    return (
        b"From: a@example.org\r\nMessage-ID: <blank-plain@x>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n'
        b"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + plain + b"\r\n"
        b"--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>My order <b>42</b> never arrived.</p>\r\n"
        b"--alt--\r\n"
    )


@pytest.mark.parametrize("plain", [b"", b"\r\n\r\n", b" \t\r\n  \r\n\xc2\xa0"], ids=["empty", "blank-lines", "spaces"])
def test_blank_plain_alternative_falls_back_to_the_html(plain: bytes) -> None:
    mail = parse_rfc5322(_alternative(plain))
    assert mail.text == mail.full_text == "My order 42 never arrived."
    assert mail.attachments == ()


def test_blank_plain_alternative_beside_attachments_reads_the_html_and_keeps_the_files() -> None:
    raw = samples.ALTERNATIVE_WITH_ATTACHMENTS.replace(
        b"Please send a quote for the attached list.=20\r\nThanks, Carol\r\n", b"=20\r\n"
    )
    mail = parse_rfc5322(raw)
    assert mail.text == "Please send a quote for the attached list.\n\nThanks, Carol"
    assert [a.filename for a in mail.attachments] == ["list.pdf", "見積書.pdf", "請求書.xlsx"]


@pytest.mark.parametrize(
    ("data", "charset"),
    [
        (b"Caf\xc3\xa9", "undefined"),  # a codec that refuses everything with UnicodeError
        (b"a.b", "punycode"),  # UnicodeError on input that is not punycode
        (b"Caf\xc3\xa9", "utf-8\x00"),  # the codec lookup raises ValueError
        (b"Caf\xc3\xa9", "\udce9"),  # an 8-bit charset label the parser kept as a surrogate escape
        (b"+2D8-", "utf-7"),  # decodes to a lone surrogate
        (b"\\ud800", "unicode_escape"),  # decodes to a lone surrogate
    ],
)
def test_charset_labels_that_cannot_decode_fall_back_to_text_safe_for_json(data: bytes, charset: str) -> None:
    text = decode_bytes(data, charset)
    assert text == data.decode("utf-8")
    text.encode("utf-8")


def test_mail_in_unusable_charsets_is_published_not_refused() -> None:
    # before: each of these raised inside the parser, so SMTP answered 451 on every retry and webhooks 500
    raw = (
        b"From: =?undefined?q?Zo=C3=AB?= <z@example.org>\r\nMessage-ID: <cs@x>\r\n"
        b"Subject: =?utf-7?q?+2D8-?= =?punycode?q?a.b?=\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b'--b\r\nContent-Type: text/plain; charset="utf-8\x00"\r\n\r\nCaf\xc3\xa9\r\n'
        b"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment;"
        b' filename="=?undefined?q?offer.pdf?="\r\n\r\n%PDF\r\n--b--\r\n'
    )
    mail = parse_rfc5322(raw)
    assert (mail.from_name, mail.subject, mail.text) == ("Zoë", "+2D8-a.b", "Café")
    assert [a.filename for a in mail.attachments] == ["offer.pdf"]
    assert _published(mail)


@pytest.mark.parametrize(
    "nesting",
    [
        b"Content-Type: message/rfc822\r\n\r\n" * 1500,
        b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(1100)),
    ],
    ids=["message/rfc822", "multipart"],
)
def test_mime_nested_deeper_than_the_parser_recurses_keeps_the_mail_and_its_headers(nesting: bytes) -> None:
    # before: RecursionError (in the parser, then again in the lenient retry) refused the mail with 451
    raw = b"From: a@example.org\r\nMessage-ID: <deep@x>\r\nSubject: nested\r\n" + nesting + b"\r\ninner\r\n"
    mail = parse_rfc5322(raw)
    assert (mail.from_address, mail.message_id, mail.subject, mail.text) == ("a@example.org", "deep@x", "nested", "")
    assert _published(mail)


def test_8bit_smtp_envelope_addresses_do_not_break_the_event() -> None:
    # aiosmtpd hands over raw 8-bit MAIL FROM / RCPT TO bytes as surrogate escapes (old relays send Latin-1)
    raw = b"Subject: hi\r\nMessage-ID: <env8@x>\r\n\r\nhello\r\n"
    mail = parse_rfc5322(
        raw, envelope_from="j\udce9r\udcf4me@example.fr", envelope_to=["ventes-\udce9quipe@example.com"]
    )
    assert mail.envelope_from is not None and mail.envelope_from.endswith("@example.fr")
    assert len(mail.envelope_to) == 1 and mail.envelope_to[0].endswith("@example.com")
    assert _published(mail)


def test_a_literal_backslash_u_surrogate_beside_an_encoded_word_stays_text() -> None:
    # decode_header's raw-unicode-escape is undone for "\\uXXXX"; literal "\\udead" must not become a lone surrogate
    raw = (
        b"From: =?UTF-8?B?5bGx55Sw?= \\udead <y@example.jp>\r\nMessage-ID: <bs2@x>\r\n"
        b"Subject: =?UTF-8?B?5YWx5pyJ?= \\\\fs01\\udead\\ud83d\r\n\r\nbody\r\n"
    )
    mail = parse_rfc5322(raw)
    assert mail.subject == "共有 \\\\fs01\\udead\\ud83d"
    assert mail.from_name == "山田 \\udead"
    assert _published(mail)


# Two malformations together: an RFC 2231 file name in a broken charset sends the parse to the lenient
# compat32 policy, whose parameter lookups raise TypeError sorting RFC 2231 "name*" beside "name*0*"
_UNSORTABLE = b"; name*=x; name*0*=utf-8''y"
_BROKEN_ATTACHMENT = (
    b"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=utf-16''%FF%FEa\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
)


def test_unsortable_rfc_2231_parameters_on_a_text_part_keep_the_body() -> None:
    raw = (
        b"From: a@example.org\r\nMessage-ID: <u2231a@x>\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain; charset=utf-8; format=flowed"
        + _UNSORTABLE
        + b"\r\n\r\nCaf\xc3\xa9 ok\r\n"
        + _BROKEN_ATTACHMENT
        + b"--b--\r\n"
    )
    mail = parse_rfc5322(raw)
    assert (mail.subject, mail.text) == ("hi", "Caf\xe9 ok")
    assert [(a.content_type, a.size_bytes) for a in mail.attachments] == [("application/pdf", 9)]
    assert _published(mail)


@pytest.mark.parametrize(
    ("ctype", "nested"),
    [
        (b"multipart/mixed", b'multipart/alternative; boundary="c"' + _UNSORTABLE),
        (b"multipart/report; report-type=delivery-status" + _UNSORTABLE, b"text/plain"),
    ],
    ids=["nested-multipart", "report"],
)
def test_unsortable_rfc_2231_parameters_on_a_multipart_keep_the_mail_and_its_headers(
    ctype: bytes, nested: bytes
) -> None:
    # the parser itself raises looking up the boundary: the headers still go in
    raw = (
        b"From: a@example.org\r\nMessage-ID: <u2231b@x>\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: " + ctype + b'; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: "
        + nested
        + b"\r\n\r\n--c\r\nContent-Type: text/plain\r\n\r\nhello\r\n--c--\r\n"
        + _BROKEN_ATTACHMENT
        + b"--b--\r\n"
    )
    mail = parse_rfc5322(raw)
    assert (mail.from_address, mail.message_id, mail.subject) == ("a@example.org", "u2231b@x", "hi")
    assert mail.auto_reply == ctype.startswith(b"multipart/report")
    assert _published(mail)


@pytest.mark.parametrize(
    ("raw", "heavy"),
    [
        (b"From: a@example.org\r\nSubject: hi\r\n\r\n" + b"plain text\r\n" * 100, False),
        (
            b'From: a@example.org\r\nContent-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\n'
            b'Content-Type: multipart/alternative; boundary="a"\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\nhi\r\n'
            b"--a\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--a--\r\n--m\r\nContent-Type: message/rfc822\r\n\r\n"
            b"Subject: =?UTF-8?B?5YWx5pyJ?=\r\n\r\nforwarded\r\n--m--\r\n",
            False,
        ),
        (b"From: a@example.org\r\n\r\n" + b"x" * 300_000, True),  # over the size limit
        (b"From: a@example.org\r\n" + b"Content-Type: message/rfc822\r\n\r\n" * 1500 + b"inner\r\n", True),
        (b"From: a@example.org\r\nSubject: " + b"=?UTF-8?Q?a?= " * 2000 + b"\r\n\r\nhi\r\n", True),
    ],
    ids=["plain", "real-multipart", "big", "nested", "encoded-words"],
)
def test_a_mail_that_may_take_long_to_parse_is_parsed_off_the_event_loop(raw: bytes, heavy: bool) -> None:
    # a few kilobytes nested 1,500 deep cost the parser over a second of CPU: on the loop, every other
    # SMTP session and webhook would wait for it
    assert heavy_to_parse(raw, size_limit=256 * 1024) is heavy


def test_a_long_mail_is_cut_to_an_event_consumers_read() -> None:
    # 300 Ki emoji under a one-line answer: before, a 1.3 MB event that consumers refuse and a broker on
    # its defaults rejects, so the mail could never be queued
    body = "ご確認ください。\n\n> " + "😀" * (300 * 1024)
    raw = (
        b"From: a@example.org\r\nMessage-ID: <long@x>\r\nSubject: long\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body.encode()
    )
    mail = parse_rfc5322(raw)
    value = _published(mail)
    assert len(value) <= MAX_EVENT_BYTES
    event = parse_event(value, topic="omni.messages.v1")
    assert event.data.text == "ご確認ください。"
    assert event.data.full_text is not None and body.startswith(event.data.full_text)
    assert len(event.data.full_text) > 200 * 1024
