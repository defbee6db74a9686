"""Provider-shaped webhook bodies with hostile values in them, for the fuzz tests of every endpoint.

A delivery starts as one of each provider's documented shapes (`TEMPLATES`); a few mutations then
put a hostile value at some place in it: a lone surrogate escape, a NUL, deep nesting, a number
beyond 64 bits or beyond a double, an absurd id, a duplicate key, a non-object, invalid UTF-8.
`encode` writes the JSON by hand so it can say what a JSON library would refuse to write.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from social_samples import SECRETS, line_sig, meta_sig, x_sig

from omni_schemas import MessageReceived, new_event, parse_event, to_record


@dataclass(frozen=True)
class Raw:
    """JSON text written into the body verbatim."""

    text: bytes


class Obj:
    """A JSON object as ordered pairs, so a key can appear twice."""

    def __init__(self, pairs: list[list[Any]]) -> None:
        self.pairs = pairs


def tree(doc: Any) -> Any:
    """`doc` with every dict turned into an Obj (mutable, duplicate keys allowed)."""
    if isinstance(doc, dict):
        return Obj([[k, tree(v)] for k, v in doc.items()])
    if isinstance(doc, list):
        return [tree(v) for v in doc]
    return doc


def encode(node: Any, *, ascii_only: bool) -> bytes:
    """The JSON text of a tree, with every non-ASCII character escaped when `ascii_only`, else as
    UTF-8 (a lone surrogate then as the bytes of it, which are not UTF-8)."""
    out: list[bytes] = []
    _write(node, out, ascii_only)
    return b"".join(out)


def _write(node: Any, out: list[bytes], ascii_only: bool) -> None:
    if isinstance(node, Raw):
        out.append(node.text)
    elif isinstance(node, Obj):
        out.append(b"{")
        for i, (key, value) in enumerate(node.pairs):
            if i:
                out.append(b",")
            _write(key, out, ascii_only)
            out.append(b":")
            _write(value, out, ascii_only)
        out.append(b"}")
    elif isinstance(node, list):
        out.append(b"[")
        for i, value in enumerate(node):
            if i:
                out.append(b",")
            _write(value, out, ascii_only)
        out.append(b"]")
    elif isinstance(node, str):
        out.append(json.dumps(node, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"))
    else:  # None, bool, int, float (finite)
        out.append(json.dumps(node).encode())


def _nested(depth: int, *, objects: bool) -> Raw:
    if objects:
        return Raw(b'{"a":' * depth + b"1" + b"}" * depth)
    return Raw(b"[" * depth + b"]" * depth)


_NUMBERS = [
    Raw(b"18446744073709551616"),  # beyond 64 bits: orjson reads a float
    Raw(b"-18446744073709551617"),
    Raw(b"1e308"),
    Raw(b"-0"),
    Raw(b"0.5"),
    Raw(b"1E2"),
    18446744073709551615,
    2**63 - 1,
    -(2**63),
    2**53 + 1,
    -1,
    0,
    1.5,
    -62135596801,
    253402300800000,
    -253402300800000,
]
_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\u200b",
    "²",
    "¹²³⁴⁵⁶⁷",
    "١٧٠٠٠٠٠٠٠٠",
    "１２３４５６７",
    "99999999999999999999",
    "999999999999999999999",
    "-1",
    "1e400",
    "sha256=",
    "x" * 600,
    "9" * 5000,
    "y" * 100_000,
    "😀" * 240_000,  # under 1 MiB as UTF-8 in the body, over it in the event with full_text
    "\x01" * 170_000,  # six bytes each, escaped
    "\U0001f600" * 200,
    "\r\n\t",
]
_OTHERS: list[Any] = [None, True, False, [], {}, [None], {"id": None}, [[]]]
# values no JSON parser should let through: the delivery is refused whole, before any parsing
_UNDECODABLE = [
    Raw(b'"\\ud800"'),  # lone surrogates, as JSON escapes
    Raw(b'"x\\udfffy"'),
    Raw(b'"\\ud83d"'),
    Raw(b'"\\ude00 hello"'),
    Raw(b"1e400"),  # beyond a double
    Raw(b"-1e400"),
    Raw(b"1" * 400),
    Raw(b"NaN"),
    Raw(b"Infinity"),
    Raw(b"[" * 1025 + b"]" * 1025),  # beyond orjson's depth
]


def hostile_values() -> st.SearchStrategy[Any]:
    """Values that are still JSON: each parser must name them malformed or carry them safely."""
    return st.one_of(
        st.sampled_from(_NUMBERS),
        st.sampled_from(_STRINGS),
        st.sampled_from(_OTHERS),
        st.builds(_nested, st.integers(60, 1020), objects=st.booleans()),
        st.text(max_size=40),
        st.integers(min_value=-(2**63), max_value=2**64 - 1),
    ).map(lambda v: tree(v) if isinstance(v, dict | list) else v)


_NUMERIC_STRINGS = [s for s in _STRINGS if len(s) < 40 and not s.isalpha()]


def like(current: Any) -> st.SearchStrategy[Any]:
    """Hostile values of the kind already at a place: a provider's field is most often wrong in kind."""
    if isinstance(current, str):
        return st.sampled_from(_STRINGS) | st.text(max_size=40)
    if isinstance(current, int | float):
        return st.sampled_from(_NUMBERS + _NUMERIC_STRINGS)
    if isinstance(current, Obj | list):
        return st.sampled_from(_OTHERS).map(tree) | st.builds(_nested, st.integers(60, 1020), objects=st.booleans())
    return hostile_values()


def undecodable_values() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(_UNDECODABLE),
        st.text(st.characters(codec=None, categories=["Cs"]), min_size=1, max_size=3),  # lone surrogates
    )


# --- each provider's shapes ----------------------------------------------------------------------


def _line(message: dict[str, Any], **event: Any) -> dict[str, Any]:
    base = {
        "replyToken": "r1",
        "type": "message",
        "mode": "active",
        "timestamp": 1462629479859,
        "source": {"type": "user", "userId": "U206d25c2ea6bd87c17655609a1c37cb8"},
        "webhookEventId": "01HLINEFUZZ",
        "deliveryContext": {"isRedelivery": False},
        "message": message,
    }
    return base | event


def _line_body(*events: dict[str, Any]) -> dict[str, Any]:
    return {"destination": "U123", "events": list(events)}


def _messenger(obj: str, message: dict[str, Any] | None = None, **event: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"sender": {"id": "PSID-1"}, "recipient": {"id": "PAGE-1"}, "timestamp": 1457764197627}
    if message is not None:
        item["message"] = message
    return {"object": obj, "entry": [{"id": "PAGE-1", "time": 1457764198246, "messaging": [item | event]}]}


def _whatsapp(message: dict[str, Any], *, statuses: bool = False) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
        "messages": [{"from": "16505551234", "id": "wamid.FUZZ", "timestamp": "1749416383"} | message],
    }
    if statuses:
        value["statuses"] = [{"id": "wamid.S", "status": "delivered", "timestamp": "1749416383"}]
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1022", "changes": [{"value": value, "field": "messages"}]}],
    }


def _telegram(key: str = "message", **message: Any) -> dict[str, Any]:
    base = {
        "message_id": 1365,
        "date": 1441645532,
        "chat": {"id": 1111111, "type": "private"},
        "from": {"id": 1111111, "is_bot": False, "first_name": "Test", "last_name": "Lastname", "username": "Test"},
    }
    return {"update_id": 10000, key: base | message}


def _x(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "for_user_id": "4337869213",
        "direct_message_events": [
            {
                "type": "message_create",
                "id": "954491830116155396",
                "created_timestamp": "1516403560557",
                "message_create": {
                    "target": {"recipient_id": "4337869213"},
                    "sender_id": "3001969357",
                    "message_data": data,
                },
            }
        ],
        "users": {"3001969357": {"id": "3001969357", "name": "Jordan Brinks", "screen_name": "furiouscamper"}},
    }


TEMPLATES: dict[str, list[dict[str, Any]]] = {
    "line": [
        _line_body(_line({"id": "325708", "type": "text", "text": "Hello, world", "quoteToken": "q"})),
        _line_body(_line({"id": "1", "type": "file", "fileName": "invoice.pdf", "fileSize": 2048})),
        _line_body(_line({"id": "2", "type": "location", "title": "Shop", "latitude": 35.6, "longitude": 139.7})),
        _line_body(_line({"id": "3", "type": "sticker", "text": "ok"})),
        _line_body(
            _line({"id": "4", "type": "image"}, source={"type": "group", "groupId": "G1", "userId": "U1"}),
            _line({"id": "5", "type": "text", "text": "hi"}, webhookEventId="01HLINEFUZ2"),
        ),
        _line_body(_line({"id": "6", "type": "text", "text": "room"}, source={"type": "room", "roomId": "R1"})),
        _line_body({"type": "follow", "timestamp": 1, "source": {"type": "user", "userId": "U1"}}),
    ],
    "meta": [
        _messenger("page", {"mid": "mid.1457764197618:41d102a3e1ae206a38", "text": "hello, world!"}),
        _messenger(
            "instagram",
            {"mid": "ig.1", "attachments": [{"type": "image", "payload": {"url": "https://cdn.example/i.jpg"}}]},
        ),
        _messenger("page", {"mid": "m.echo", "text": "auto", "is_echo": True}),
        _messenger("page", None, postback={"payload": "GET_STARTED"}),
        _whatsapp({"type": "text", "text": {"body": "Does it come in another color?"}}, statuses=True),
        _whatsapp({"type": "document", "document": {"filename": "a.pdf", "mime_type": "application/pdf"}}),
        _whatsapp({"type": "location", "location": {"latitude": 1.5, "longitude": 2.5, "name": "Shop"}}),
        _whatsapp({"type": "interactive", "interactive": {"button_reply": {"id": "b", "title": "Yes"}}}),
        _whatsapp({"type": "order", "order": {"text": "this please"}, "group_id": "G1"}),
        _whatsapp({"type": "text", "text": {"body": "hi"}, "from": "US.13491208655302741918", "from_user_id": "US.1"}),
    ],
    "telegram": [
        _telegram(text="/start"),
        _telegram(photo=[{"file_id": "a", "file_size": 10}, {"file_id": "b", "file_size": 2000}], caption="see"),
        _telegram(document={"file_name": "a.pdf", "mime_type": "application/pdf", "file_size": 3}),
        _telegram(location={"latitude": 35.6, "longitude": 139.7}),
        _telegram(venue={"title": "Shop", "address": "1-1"}, location={"latitude": 1, "longitude": 2}),
        _telegram("edited_message", text="fixed", edit_date=1441645600),
        _telegram(new_chat_members=[{"id": 2}]),
        {"update_id": 10001, "callback_query": {"id": "1"}},
    ],
    "x": [
        _x({"text": "Hello World!", "entities": {"hashtags": [], "urls": []}}),
        _x({"text": "", "attachment": {"type": "media", "media": {"type": "photo", "media_url_https": "https://x"}}}),
        {"for_user_id": "4337869213", "direct_message_indicate_typing_events": [{"created_timestamp": "1"}]},
    ],
}


# --- mutations -----------------------------------------------------------------------------------


def _places(node: Any, acc: list[tuple[Any, Any, str]]) -> list[tuple[Any, Any, str]]:
    """Every place a value can go: (container, index or pair, what), containers before contents."""
    if isinstance(node, Obj):
        for pair in node.pairs:
            acc.extend([(node, pair, "value"), (node, pair, "key"), (node, pair, "duplicate")])
            _places(pair[1], acc)
        acc.append((node, None, "add"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            acc.append((node, i, "item"))
            _places(value, acc)
        acc.append((node, None, "append"))
    return acc


def _mutate(root: Any, where: int, pick: Callable[[Any], Any], *, structural: bool) -> Any:
    """Put `pick(the value there)` at the `where`-th place of the tree (modulo their number);
    returns the root.

    Not `structural`: in place of an existing value. `structural`: as a key, a duplicate key, an
    added key or item, or the whole body (`pick` is then given None)."""
    places = [p for p in _places(root, []) if (p[2] not in ("value", "item")) == structural]
    if not places or (structural and where % (len(places) + 1) == len(places)):
        return pick(None)  # the whole body: a non-object at the top level, deep nesting, ...
    container, slot, what = places[where % len(places)]
    value = pick(None if structural else slot[1] if what == "value" else container[slot])
    if what == "value":
        slot[1] = value
    elif what == "item":
        container[slot] = value
    elif what == "key":
        slot[0] = value if isinstance(value, str) else "key"
    elif what == "duplicate":  # the same key again, before or after: JSON parsers keep one of them
        container.pairs.insert(container.pairs.index(slot) + (where % 2), [slot[0], value])
    elif what == "add":
        container.pairs.append(["extra", value])
    else:
        container.append(value)
    return root


_BYTE_EDITS = [
    b"\xff",  # never valid in UTF-8
    b"\xc0\x80",  # an overlong NUL
    b"\xed\xa0\x80",  # a surrogate, encoded
    b"\xf4\x90\x80\x80",  # beyond U+10FFFF
    b"\x00",
]


@dataclass(frozen=True)
class Delivery:
    provider: str
    body: bytes

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        body = self.body if len(self.body) <= 4000 else self.body[:4000] + b"..."
        return f"Delivery({self.provider!r}, {body!r})"


@st.composite
def deliveries(draw: st.DrawFn, provider: str | None = None) -> Delivery:
    """One provider's body with up to four hostile values placed in it; about one in four also has
    something no JSON parser should accept (a lone surrogate, invalid UTF-8, infinity, ...)."""
    name = provider or draw(st.sampled_from(sorted(TEMPLATES)))
    root = tree(draw(st.sampled_from(TEMPLATES[name])))

    def pick(current: Any) -> Any:
        return draw(like(current) if current is not None and draw(st.booleans()) else hostile_values())

    for _ in range(draw(st.integers(0, 4))):
        where, structural = draw(st.integers(0, 10_000)), draw(st.integers(0, 3)) == 0
        root = _mutate(root, where, pick, structural=structural)
    undecodable = draw(st.integers(0, 15))
    if undecodable == 1:
        root = _mutate(root, draw(st.integers(0, 10_000)), lambda _: draw(undecodable_values()), structural=False)
    body = encode(root, ascii_only=draw(st.booleans()))
    if undecodable == 2 and b'":"' in body:  # inside a string value
        at = body.index(b'":"') + 3
        body = body[:at] + draw(st.sampled_from(_BYTE_EDITS)) + body[at:]
    elif undecodable == 3:
        body = b"\xef\xbb\xbf" + body  # a byte-order mark
    elif undecodable == 4:
        body = body[: draw(st.integers(0, len(body) - 1))]
    return Delivery(name, body)


# --- signing and checking ------------------------------------------------------------------------

PATHS = {"line": "/webhooks/line", "meta": "/webhooks/meta", "telegram": "/webhooks/telegram", "x": "/webhooks/x"}


def signed_headers(provider: str, body: bytes) -> dict[str, str]:
    """Each provider's documented signature over the exact bytes, so the body reaches the parser."""
    headers = {"content-type": "application/json"}
    if provider == "meta":
        headers["x-hub-signature-256"] = meta_sig(SECRETS["meta_app_secret"], body)
    elif provider == "line":
        headers["x-line-signature"] = line_sig(SECRETS["line_channel_secret"], body)
    elif provider == "telegram":
        headers["x-telegram-bot-api-secret-token"] = SECRETS["telegram_secret_token"]
    else:
        headers["x-twitter-webhooks-signature"] = x_sig(SECRETS["x_consumer_secret"], body)
    return headers


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [s for i, v in enumerate(value) for s in _strings(v, f"{path}[{i}]")]
    return []


def assert_consumable(message: MessageReceived) -> None:
    """The event of `message` serializes, reads back as the same event, and every string in it can be
    stored by a consumer (PostgreSQL text holds no NUL and only valid UTF-8)."""
    event = new_event("omni.message.received.v1", message, source="/omni/ingest_social")
    record = to_record(event)
    back = parse_event(record.value, topic=record.topic, key=record.key)
    assert back.data == message
    assert_storable(back.data)


def assert_storable(message: Any) -> None:
    for path, text in _strings(message.model_dump(mode="json"), "data"):
        assert "\x00" not in text, f"{path} holds a NUL: {text[:60]!r}"
        text.encode("utf-8")  # no unpaired surrogate
