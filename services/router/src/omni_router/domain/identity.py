"""Who a customer is across channels: the identity key of a message's sender.

An e-mail address (lower-cased by the ingest services) and an E.164 phone number mean the same
person on every channel that carries them: mail over SMTP, SendGrid or Mailgun; a phone over
SMS or WhatsApp. So they are keys as they are. Every other address is an id that only means
something on one channel (a LINE user id, a Telegram or X numeric id, a Messenger PSID, a web
chat visitor id), and two channels may hand out the same string to different people, so the
key is scoped to the channel: `line:U4af4980629...`, `chat:visitor-17`. Anything beyond that (this LINE user is
that e-mail customer) is a linked identity, made explicitly through the router's customer API;
an unverified claim inside a message (an e-mail typed into web chat) never merges customers.
"""

from __future__ import annotations

import re

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_EMAIL = re.compile(r"^[^@\s:]+@[^@\s]+$")
_CHANNEL = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class IdentityError(ValueError):
    """An identity that cannot be a key (names the part that is wrong)."""


def identity_key(channel: str, address: str) -> str:
    """The customer identity key of `address` as it came in on `channel`."""
    address = address.strip()
    if _EMAIL.match(address):
        return address.lower()
    if _E164.match(address):
        return address
    return f"{channel}:{address}"


def parse_identity(text: str) -> str:
    """An identity as an operator writes it: an e-mail, an E.164 phone, or `channel:id`."""
    text = text.strip()
    if not text:
        raise IdentityError("empty identity; expected an e-mail, an E.164 phone number or channel:id")
    if _EMAIL.match(text):
        return text.lower()
    if _E164.match(text):
        return text
    channel, sep, rest = text.partition(":")
    if not sep or not rest.strip():
        raise IdentityError(
            f"{text!r} is neither an e-mail, an E.164 phone number (+819012345678) nor channel:id (line:U4af49806...)"
        )
    if not _CHANNEL.match(channel):
        raise IdentityError(f"{channel!r} is not a channel name (lower-case, e.g. line, telegram, x, chat)")
    return f"{channel}:{rest.strip()}"
