"""A reply lands on the thread of the mail it answers, however its mailer wrote the headers."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from omni_ingest_email.domain import ParsedEmail, choose_thread_key, referenced_ids


def _mail(message_id: str | None, *, in_reply_to: str | None = None, references: tuple[str, ...] = ()) -> ParsedEmail:
    return ParsedEmail(
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        from_address="c@example.org",
        from_name=None,
        to=(),
        cc=(),
        subject="s",
        sent_at=None,
        text="t",
        full_text="t",
        fingerprint="f" * 64,
    )


def test_new_mail_starts_a_thread_named_after_itself() -> None:
    decision = choose_thread_key(_mail("root@x"))
    assert (decision.thread_key, decision.reason) == ("email:root@x", "message_id")


def test_reply_with_references_lands_on_the_root() -> None:
    root = choose_thread_key(_mail("root@x"))
    reply = choose_thread_key(_mail("r2@y", in_reply_to="a1@x", references=("root@x", "a1@x")))
    assert reply.thread_key == root.thread_key
    assert reply.reason == "root_reference"


def test_reply_with_only_in_reply_to_uses_the_known_thread_of_its_parent() -> None:
    # root@x -> reply r1@y (References: root@x) -> reply r2@z with only In-Reply-To: r1@y
    first_reply = choose_thread_key(_mail("r1@y", in_reply_to="root@x", references=("root@x",)))
    known = {"root@x": "email:root@x", "r1@y": first_reply.thread_key}
    second = choose_thread_key(_mail("r2@z", in_reply_to="r1@y"), known)
    assert second.thread_key == "email:root@x"
    assert second.reason == "known_reference"


def test_unknown_in_reply_to_without_references_threads_on_the_parent() -> None:
    assert choose_thread_key(_mail("r@y", in_reply_to="p@x")).thread_key == "email:p@x"


def test_mail_without_any_id_threads_on_its_content_hash() -> None:
    decision = choose_thread_key(_mail(None))
    assert decision.thread_key.startswith("email:fp:")
    assert decision.reason == "content"


def test_referenced_ids_are_nearest_parent_first_without_duplicates_or_self() -> None:
    mail = _mail("me@x", in_reply_to="p@x", references=("root@x", "mid@x", "p@x", "me@x"))
    assert referenced_ids(mail) == ["p@x", "mid@x", "root@x"]


def test_very_long_message_id_is_hashed_into_a_bounded_key() -> None:
    decision = choose_thread_key(_mail("x" * 600 + "@y"))
    assert len(decision.thread_key) < 100


_IDS = st.text(alphabet="abcdef0123456789", min_size=3, max_size=10).map(lambda s: s + "@ex")


@settings(max_examples=100, deadline=None)
@given(chain=st.lists(_IDS, min_size=2, max_size=8, unique=True), drop=st.lists(st.booleans(), min_size=8, max_size=8))
def test_every_reply_in_a_chain_shares_the_thread_of_the_first_mail(chain: list[str], drop: list[bool]) -> None:
    """Mailers may drop References (keeping In-Reply-To); with the ids seen so far, the thread holds."""
    known: dict[str, str] = {}
    keys = []
    for i, mid in enumerate(chain):
        mail = _mail(mid)
        if i:
            refs = () if drop[i] else tuple(chain[:i])
            mail = replace(mail, in_reply_to=chain[i - 1], references=refs)
        key = choose_thread_key(mail, known).thread_key
        known[mid] = key
        keys.append(key)
    assert set(keys) == {"email:" + chain[0]}
