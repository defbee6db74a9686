"""Any form Twilio (or anyone) could post either normalizes or names a malformed field; nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode
from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from omni_ingest_chat.domain.errors import MalformedInput
from omni_ingest_chat.domain.twilio_sms import parse_form, parse_inbound_message

NOW = datetime(2026, 11, 20, tzinfo=UTC)
KEYS = [
    "MessageSid",
    "SmsSid",
    "From",
    "To",
    "Body",
    "NumMedia",
    "MediaUrl0",
    "MediaContentType0",
    "FromCountry",
    "ProfileName",
]
phones = (
    st.from_regex(r"\A(whatsapp:)?\+[1-9][0-9]{6,14}\Z") | st.text(max_size=20) | st.text(min_size=500, max_size=700)
)
values = {
    "MessageSid": st.from_regex(r"\A(SM|MM)[0-9a-f]{32}\Z") | st.text(max_size=40),
    "From": phones,
    "To": phones,
    "NumMedia": st.sampled_from(["0", "1", "2", "", "x", "-1", "11"]),
    "MediaUrl0": st.sampled_from(["https://api.twilio.com/x/Media/ME1", "ftp://x", ""]),
    "FromCountry": st.sampled_from(["JP", "US", "", "ZZ", "jp"]),
}
forms = st.lists(
    st.sampled_from(KEYS).flatmap(lambda k: st.tuples(st.just(k), values.get(k, st.text(max_size=200)))),
    max_size=14,
)


@settings(max_examples=200, deadline=None)
@given(pairs=forms)
def test_any_form_normalizes_or_names_a_field(pairs: list[tuple[str, str]]) -> None:
    try:
        params = parse_form(urlencode(pairs).encode())
    except MalformedInput:
        return  # e.g. surrogates that cannot be UTF-8 encoded
    try:
        result = parse_inbound_message(params, message_id=uuid4(), received_at=NOW)
    except MalformedInput as exc:
        field = exc.field
        assert field in KEYS or field == "MessageSid" or field.startswith("MediaUrl")
        return
    m = result.message
    assert result.dedupe_key == m.provider_message_id
    assert m.thread_key.startswith(("sms:", "whatsapp:"))
    assert m.language in {"ja", "en", None}
    assert len(m.attachments) <= 10
