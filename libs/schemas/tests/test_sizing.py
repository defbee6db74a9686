"""Fitting a message to the event size every consumer reads."""

from __future__ import annotations

import pytest

from omni_schemas import MessageReceived, new_event, parse_event, to_record
from omni_schemas.envelope import MAX_EVENT_BYTES
from omni_schemas.events import MAX_TEXT_CHARS
from omni_schemas.examples import EXAMPLES
from omni_schemas.sizing import EventTooLarge, within_event_limit


def _message(**changes: object) -> MessageReceived:
    return MessageReceived.model_validate(EXAMPLES["omni.message.received.v1"] | changes)


def _event_bytes(message: MessageReceived) -> bytes:
    return to_record(new_event("omni.message.received.v1", message, source="/t")).value


def test_a_usual_message_is_kept_as_it_is() -> None:
    message = _message(text="注文が届きません", full_text="注文が届きません\n\n> 以前のメール")
    assert within_event_limit(message) is message


def test_full_text_is_cut_so_the_event_fits_and_reads_back() -> None:
    # 64 Ki emoji of text and 256 Ki of full text: 1.3 MB of JSON, which consumers would refuse
    text = "😀" * MAX_TEXT_CHARS
    message = _message(text=text, full_text=text + "🙏" * (3 * MAX_TEXT_CHARS))
    assert len(_event_bytes(message)) > MAX_EVENT_BYTES
    fitted = within_event_limit(message)
    raw = _event_bytes(fitted)
    assert MAX_EVENT_BYTES - 16 * 1024 < len(raw) <= MAX_EVENT_BYTES
    assert fitted.full_text is not None and message.full_text is not None
    assert len(fitted.full_text) > len(text) and message.full_text.startswith(fitted.full_text)
    assert fitted.text == text
    parse_event(raw, topic="omni.messages.v1")  # consumers read it


def test_full_text_no_longer_than_text_once_cut_is_dropped() -> None:
    # control characters take six bytes each in JSON: the text and twenty long attachment URLs leave
    # room for less of the full text than the text itself, so it is dropped, not cut
    text = "\x01" * MAX_TEXT_CHARS
    attachment = {"content_type": "image/png", "url": "https://x/" + "\x01" * 4000}
    message = _message(text=text, full_text=text * 4, attachments=[attachment] * 20)
    fitted = within_event_limit(message)
    assert fitted.full_text is None
    assert (fitted.text, fitted.attachments) == (message.text, message.attachments)
    assert len(_event_bytes(fitted)) <= MAX_EVENT_BYTES


def test_a_message_too_large_even_without_full_text_is_refused() -> None:
    attachment = {"filename": "😀" * 512, "content_type": "image/png", "url": "https://x/" + "\x01" * 4000}
    message = _message(attachments=[attachment] * 100, full_text=None)
    with pytest.raises(EventTooLarge, match="too large for an event"):
        within_event_limit(message)
