"""Reply history and signatures are cut from `text` only where the pattern is unambiguous."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omni_ingest_email.domain.quoting import strip_reply


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Yes please.\n\nOn Tue, 14 May 2024 at 10:00, Support <s@x.com> wrote:\n> Shall we?", "Yes please."),
        ("Yes.\n\nOn Tue, May 14, 2024 at 10:00 AM Support Team <support@example.com>\nwrote:\n> q", "Yes."),
        ("Fine\n\nOn 2024/05/14 10:00, 山田 wrote:\n> 前の", "Fine"),
        ("了解です。\n\n2024年5月14日(火) 10:00 山田 <a@b.jp>:\n> 以前の内容", "了解です。"),
        ("了解です。\n\n2024/05/14 10:00、山田太郎 <a@b.jp>のメール:\n\n> 以前", "了解です。"),
        ("承知しました。\n\n山田さんは書きました:\n> 前", "承知しました。"),
        ("了解です。\n\n2024年5月14日(火) 10:00 山田 太郎 <\ntaro@example.jp>:\n\n> 以前", "了解です。"),
        ("2024年5月14日に注文しました。\n届いていません。", "2024年5月14日に注文しました。\n届いていません。"),
        ("Ok\n\n-----Original Message-----\nFrom: S\nSent: Monday\nTo: A\nSubject: x\n\nold", "Ok"),
        ("了解\n\n-----元のメッセージ-----\n差出人: S\n送信日時: 月曜日\n\n古い", "了解"),
        ("Ok\n\n________________________________\nFrom: Support\nSent: Monday\n\nold", "Ok"),
        ("Ok\n\nFrom: Support <s@x.com>\nSent: Monday, May 13, 2024 9:00 AM\nTo: me\n\nold", "Ok"),
        ("Thanks\n-- \nBob\nACME", "Thanks"),
        ("Thanks\n\nSent from my iPhone", "Thanks"),
        ("ありがとうございます\n\niPhoneから送信", "ありがとうございます"),
        ("My answers inline:\n> Question 1?\nYes\n> Question 2?\nNo", "My answers inline:\nYes\nNo"),
    ],
)
def test_reply_history_and_signature_are_cut(body: str, expected: str) -> None:
    assert strip_reply(body) == expected


def test_outlook_html_reply_block_is_cut_after_conversion() -> None:
    from omni_ingest_email.domain.html_text import html_to_text

    html = (
        "<html><body><p>Please cancel order 42.</p><div id='divRplyFwdMsg'><hr>"
        "<b>From:</b> Support &lt;support@example.com&gt;<br><b>Sent:</b> Monday, May 13, 2024 9:00 AM<br>"
        "<b>To:</b> Alice<br><b>Subject:</b> Order 42</div><div>Your order shipped.</div></body></html>"
    )
    assert strip_reply(html_to_text(html)) == "Please cancel order 42."


def test_forwarded_message_is_kept_because_it_is_the_question() -> None:
    body = (
        "See below, can you help?\n\n---------- Forwarded message ---------\n"
        "From: Shop <shop@example.com>\nDate: Mon, May 13, 2024\nSubject: Order\n\nYour order failed."
    )
    assert strip_reply(body) == body


def test_body_that_is_only_a_quote_is_kept_whole() -> None:
    body = "> only quoted text\n> nothing new"
    assert strip_reply(body) == body


def test_an_ordinary_line_starting_with_on_is_not_a_reply_header() -> None:
    body = "On Monday I ordered two items.\nOnly one arrived."
    assert strip_reply(body) == body


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=600))
def test_stripped_text_is_never_empty_for_a_non_blank_body_and_never_invents_lines(body: str) -> None:
    text = strip_reply(body)
    if body.strip():
        assert text.strip()
    normalized = body.replace("\r\n", "\n").replace("\r", "\n")
    assert all(line in normalized for line in text.split("\n"))


def test_gmail_japanese_html_reply_cuts_at_the_linked_attribution_line() -> None:
    from omni_ingest_email.domain.html_text import html_to_text

    html = (
        '<div dir="ltr">承知しました。</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
        '2026年11月30日(月) 10:00 サポート &lt;<a href="mailto:support@example.com">support@example.com</a>&gt;:'
        '<br></div><blockquote class="gmail_quote">以前の本文</blockquote></div>'
    )
    assert strip_reply(html_to_text(html)) == "承知しました。"


def test_a_mailto_link_with_other_text_stays_a_link() -> None:
    from omni_ingest_email.domain.html_text import html_to_text

    assert html_to_text('<a href="mailto:sales@example.com">営業部</a>') == "[営業部](<mailto:sales@example.com>)"
