"""What parsing one webhook delivery decides: the messages to route and the events ignored, and why."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import ValidationError

from omni_schemas import Attachment, Channel, Customer, MessageReceived, Provider
from omni_schemas.events import MAX_ID_CHARS, MAX_TEXT_CHARS
from omni_schemas.sizing import EventTooLarge, within_event_limit

DetectLanguage = Callable[[str], str | None]
"""Text -> BCP 47 tag or None; passed in so parsing stays pure and testable."""

_NAMESPACE = uuid.UUID("6f6d6e69-736f-4369-a16c-000000000001")
_MAX_DEAD_ITEM_BYTES = 512 * 1024
"""A set-aside item is dead-lettered cut to this, so the dead letter (base64, 4/3 the size) fits too."""


class MalformedPayload(ValueError):
    """The delivery does not have the provider's documented shape; `field` names where."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Routed:
    """A customer message to publish, with the provider-scoped id that identifies its redeliveries."""

    message: MessageReceived
    dedupe_key: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """One item of a batch without the provider's documented shape: where, why, and the item itself."""

    field: str
    message: str
    item: bytes
    """The item's own JSON, for the dead-letter topic."""


@dataclass(frozen=True, slots=True)
class ParsedDelivery:
    """The decision for one delivery: messages to route, the count of events ignored by reason, and
    the items of a batch set aside as malformed (the others still go in)."""

    provider: Provider
    routed: tuple[Routed, ...] = ()
    ignored: dict[str, int] = field(default_factory=dict)
    rejected: tuple[Rejected, ...] = ()

    @property
    def ignored_total(self) -> int:
        return sum(self.ignored.values())


class DeliveryBuilder:
    """Collects routed messages and ignored events while a parser walks one delivery."""

    def __init__(self, provider: Provider, *, received_at: datetime, detect: DetectLanguage) -> None:
        self.provider = provider
        self.received_at = received_at
        self.detect = detect
        self._routed: list[Routed] = []
        self._ignored: Counter[str] = Counter()
        self._rejected: list[Rejected] = []

    def each(self, raw: object, path: str, parse: Callable[[], None]) -> None:
        """Parse one item of a batch; a malformed one is set aside with its reason, leaving no trace
        in what is routed or ignored, so one bad item does not send its neighbours back to the provider."""
        routed, ignored = len(self._routed), Counter(self._ignored)
        try:
            parse()
        except MalformedPayload as exc:
            del self._routed[routed:]
            self._ignored = ignored
            item = json.dumps(raw, ensure_ascii=False, separators=(",", ":")).encode()
            message = exc.message
            if len(item) > _MAX_DEAD_ITEM_BYTES:
                message += f" (the item's first {_MAX_DEAD_ITEM_BYTES} of {len(item)} bytes kept)"
                item = item[:_MAX_DEAD_ITEM_BYTES]
            self._rejected.append(Rejected(field=exc.field or path, message=message, item=item))

    def ignore(self, reason: str, count: int = 1) -> None:
        if count:
            self._ignored[reason] += count

    def route(
        self,
        *,
        path: str,
        channel: Channel,
        dedupe_key: str,
        provider_message_id: str | None,
        thread_key: str,
        address: str,
        display_name: str | None = None,
        text: str = "",
        attachments: Sequence[Attachment] = (),
        sent_at: datetime | None = None,
    ) -> None:
        for name, value in (("thread", thread_key), ("sender", address), ("message id", provider_message_id)):
            if value is not None and "\x00" in value:  # consumers keep ids as PostgreSQL text, which cannot hold it
                raise MalformedPayload(path, f"{path}: the {name} id contains the NUL character (\\u0000)")
        text = text.replace("\x00", "")
        trimmed = text[:MAX_TEXT_CHARS]
        try:
            message = MessageReceived(
                message_id=uuid.uuid5(_NAMESPACE, f"{self.provider.value}:{dedupe_key}"),
                channel=channel,
                provider=self.provider,
                provider_message_id=provider_message_id,
                thread_key=thread_key,
                customer=Customer(address=address, display_name=_short(display_name)),
                text=trimmed,
                full_text=text[: 4 * MAX_TEXT_CHARS] if len(text) > MAX_TEXT_CHARS else None,
                attachments=list(attachments)[:100],
                language=self.detect(trimmed) if trimmed.strip() else None,
                sent_at=sent_at,
                received_at=self.received_at,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise MalformedPayload(path, f"{path}: cannot normalize ({where}: {first['msg']})") from exc
        try:
            message = within_event_limit(message)
        except EventTooLarge as exc:
            raise MalformedPayload(path, f"{path}: {exc}") from exc
        self._routed.append(Routed(message=message, dedupe_key=dedupe_key))

    def build(self) -> ParsedDelivery:
        """The decision; raises the first item's MalformedPayload when no item of it was usable."""
        if self._rejected and not self._routed and not self._ignored:
            first = self._rejected[0]
            raise MalformedPayload(first.field, first.message)
        return ParsedDelivery(
            provider=self.provider,
            routed=tuple(self._routed),
            ignored=dict(self._ignored),
            rejected=tuple(self._rejected),
        )


def _short(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.replace("\x00", "").strip()
    return value[:MAX_ID_CHARS] or None


def file_name(value: str | None) -> str | None:
    """A provider's file name as an attachment holds it: without NUL, cut to the schema's bound, or None."""
    return _short(value)


def media_url(value: object) -> str | None:
    """A provider's media URL, or None when it is not a URL the event can carry."""
    if isinstance(value, str) and len(value) <= 4096 and value.isprintable():
        return value
    return None


def media_id(value: object) -> str | None:
    """A provider's media id (WhatsApp media id, Telegram file_id, LINE message id), or None when it is
    not an id the event can carry: a media id is a handle, never worth refusing a message over."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and 0 < len(value) <= 512 and value.isprintable():
        return value
    return None


def from_epoch(seconds: float | None) -> datetime | None:
    """An aware UTC datetime, or None for an absent or absurd timestamp."""
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def media_type(kind: str | None, mime: str | None = None) -> str:
    """A content type for an attachment: the provider's MIME type, else one from its kind."""
    if mime and "/" in mime and len(mime) <= 255 and mime.isascii() and mime.isprintable():
        return mime
    return {
        "image": "image/*",
        "photo": "image/*",
        "animated_gif": "image/gif",
        "sticker": "image/*",
        "video": "video/*",
        "video_note": "video/*",
        "audio": "audio/*",
        "voice": "audio/*",
        "file": "application/octet-stream",
        "document": "application/octet-stream",
    }.get(kind or "", f"application/x-{_token(kind or 'unknown')}")


def _token(kind: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-._" else "-" for c in kind.lower())
    return cleaned[:60] or "unknown"
