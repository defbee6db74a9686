"""Customer identity keys: e-mail and phone cross channels, every other id is scoped to its channel."""

from __future__ import annotations

import pytest

from omni_router.domain.identity import IdentityError, identity_key, parse_identity


def test_email_and_phone_are_the_same_customer_on_every_channel() -> None:
    assert identity_key("email", "hanako@example.jp") == identity_key("chat", "Hanako@Example.JP")
    assert identity_key("sms", "+819012345678") == identity_key("whatsapp", "+819012345678") == "+819012345678"


def test_provider_ids_are_scoped_to_their_channel() -> None:
    # a Telegram user id and an X user id may be the same digits and still two people
    assert identity_key("telegram", "4337869213") == "telegram:4337869213"
    assert identity_key("x", "4337869213") == "x:4337869213"
    assert identity_key("line", "U4af4980629") == "line:U4af4980629"
    # a web chat visitor id that merely looks like a phone without the + is not a phone
    assert identity_key("chat", "819012345678") == "chat:819012345678"
    # an SMS short code is not E.164
    assert identity_key("sms", "12345") == "sms:12345"


def test_operator_identities_parse_to_the_same_keys() -> None:
    assert parse_identity(" Hanako@Example.jp ") == identity_key("email", "hanako@example.jp")
    assert parse_identity("+819012345678") == identity_key("sms", "+819012345678")
    assert parse_identity("line:U4af4980629") == identity_key("line", "U4af4980629")


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("", "empty"),
        ("U4af4980629", "channel:id"),
        ("Line:U1", "not a channel name"),
        ("line:", "channel:id"),
        ("090-1234-5678", "channel:id"),
    ],
)
def test_bad_identities_are_refused_with_a_reason(text: str, names: str) -> None:
    with pytest.raises(IdentityError, match=names):
        parse_identity(text)
