"""Web chat messages, thread keys, phone numbers and language detection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from pydantic import ValidationError

from omni_ingest_chat.domain.phone import to_e164
from omni_ingest_chat.domain.threads import chat_thread_key, is_valid_session_id
from omni_ingest_chat.domain.webchat import ChatMessageIn, normalize_chat_message
from omni_schemas import Channel, Provider

NOW = datetime(2026, 11, 20, 1, 2, 3, tzinfo=UTC)


def test_chat_message_normalized_onto_session_thread() -> None:
    body = ChatMessageIn.model_validate(
        {"text": "ログインできません", "visitor": {"id": "v-42", "name": "佐藤", "email": "sato@example.jp"}}
    )
    result = normalize_chat_message("s-1", body, message_id=uuid4(), received_at=NOW)
    m = result.message
    assert (m.channel, m.provider) == (Channel.CHAT, Provider.WEBCHAT)
    assert m.thread_key == chat_thread_key("s-1") == "chat:s-1"
    assert m.customer.address == "v-42"
    assert m.customer.display_name == "佐藤"
    assert m.language == "ja"
    assert result.dedupe_key is None
    assert m.provider_message_id is None


def test_client_message_id_is_the_dedupe_key_within_the_session() -> None:
    body = ChatMessageIn.model_validate({"text": "hello", "visitor": {"id": "v"}, "client_message_id": "c-1"})
    a = normalize_chat_message("s-1", body, message_id=uuid4(), received_at=NOW)
    b = normalize_chat_message("s-2", body, message_id=uuid4(), received_at=NOW)
    assert a.dedupe_key == "s-1:c-1"
    assert b.dedupe_key != a.dedupe_key
    assert a.message.provider_message_id == "c-1"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"visitor": {"id": "v"}}, "text"),
        ({"text": "   ", "visitor": {"id": "v"}}, "text"),
        ({"text": "hi"}, "visitor"),
        ({"text": "hi", "visitor": {"id": ""}}, "id"),
        ({"text": "hi", "visitor": {"id": "v", "email": "nope"}}, "email"),
        ({"text": "hi", "visitor": {"id": "v"}, "client_message_id": "has space"}, "client_message_id"),
        ({"text": "hi", "visitor": {"id": "v"}, "sent_at": "2026-11-20T10:00:00"}, "sent_at"),
        ({"text": "hi", "visitor": {"id": "v"}, "sent_at": "0001-01-01T00:00:00+14:00"}, "sent_at"),
        ({"text": "hi", "visitor": {"id": "v\u0000w"}}, "id"),
        ({"text": "\u0000 ", "visitor": {"id": "v"}}, "text"),
        ({"text": "hi", "visitor": {"id": "v"}, "sent_at": "9999-12-31T23:59:59-14:00"}, "sent_at"),
    ],
)
def test_invalid_chat_bodies_name_the_field(payload: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        ChatMessageIn.model_validate(payload)
    assert field in {str(p) for e in info.value.errors() for p in e["loc"]}


def test_nul_characters_are_dropped_from_text_and_name() -> None:
    # consumers store names and texts in PostgreSQL, which holds no NUL; the character says nothing
    body = ChatMessageIn.model_validate({"text": "注文\u0000の件", "visitor": {"id": "v", "name": "山田\u0000 花子"}})
    message = normalize_chat_message("s-1", body, message_id=uuid4(), received_at=NOW).message
    assert (message.text, message.customer.display_name) == ("注文の件", "山田 花子")


def test_sent_at_is_carried_in_utc() -> None:
    body = ChatMessageIn.model_validate({"text": "hi", "visitor": {"id": "v"}, "sent_at": "2026-11-20T10:00:00+09:00"})
    message = normalize_chat_message("s-1", body, message_id=uuid4(), received_at=NOW).message
    assert message.sent_at is not None and message.sent_at.utcoffset() == timedelta(0)
    assert message.sent_at.isoformat() == "2026-11-20T01:00:00+00:00"


@pytest.mark.parametrize(
    ("session_id", "ok"),
    [
        ("3f2b8c1e-0d4a-4c57-9a8e-1b2c3d4e5f60", True),
        ("abc", True),
        ("", False),
        ("a/b", False),
        ("-a", True),
        ("..", False),
    ],
)
def test_session_ids(session_id: str, ok: bool) -> None:
    assert is_valid_session_id(session_id) is ok


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+14133881111", None, "+14133881111"),
        ("+81 90-1234-5678", None, "+819012345678"),
        ("090-1234-5678", "JP", "+819012345678"),
        ("(202) 883-1111", "US", "+12028831111"),
        ("819012345678", None, "+819012345678"),
        ("12345", None, None),
        ("not a number", None, None),
        ("", None, None),
    ],
)
def test_to_e164(raw: str, region: str | None, expected: str | None) -> None:
    assert to_e164(raw, region=region) == expected


def test_empty_email_from_a_pre_chat_form_is_no_email() -> None:
    body = ChatMessageIn.model_validate({"text": "hi", "visitor": {"id": "v", "name": "", "email": ""}})
    assert body.visitor.email is None
    assert ChatMessageIn.model_validate({"text": "hi", "visitor": {"id": "v", "email": "  "}}).visitor.email is None


@pytest.mark.parametrize("client_message_id", ["_f3kT9xQ2mZ8pL1vR7wYc", "-Ab3_x", "c-42", "1732060920000", "a" * 128])
def test_client_message_ids_as_widgets_generate_them(client_message_id: str) -> None:
    body = ChatMessageIn.model_validate({"text": "hi", "visitor": {"id": "v"}, "client_message_id": client_message_id})
    assert body.client_message_id == client_message_id


@pytest.mark.parametrize(
    "session_id", ["_f3kT9xQ2mZ8pL1vR7wYc", "-V1StGXR8_Z5jdHi6B-my", "~a", "3f2b8c1e-0d4a-4c57-9a8e-1b2c3d4e5f60"]
)
def test_nanoid_session_ids_starting_with_underscore_or_dash_are_valid(session_id: str) -> None:
    assert is_valid_session_id(session_id)


@pytest.mark.parametrize("session_id", [".", "..", ".hidden", "a" * 129, "a b", "a%2Fb"])
def test_dot_segments_and_odd_session_ids_are_invalid(session_id: str) -> None:
    assert not is_valid_session_id(session_id)
