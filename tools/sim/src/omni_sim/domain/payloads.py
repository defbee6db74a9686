"""Provider requests exactly as each provider sends them: body bytes, headers and a valid signature.

A builder takes one planned customer message and the current time, and returns either an HTTP
delivery (to one ingest service) or a raw RFC 5322 mail (for the SMTP endpoint).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from enum import StrEnum
from urllib.parse import urlencode

from omni_sim.domain.signing import (
    line_signature,
    mailgun_signature,
    meta_signature,
    twilio_signature,
    x_signature,
)


class Route(StrEnum):
    """How a message reaches omni: a channel through one provider."""

    SMTP = "smtp"
    SENDGRID = "sendgrid"
    MAILGUN = "mailgun"
    WEBCHAT = "webchat"
    TWILIO_SMS = "twilio_sms"
    WHATSAPP = "whatsapp"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    LINE = "line"
    TELEGRAM = "telegram"
    X = "x"


CHANNEL_OF_ROUTE: dict[Route, str] = {
    Route.SMTP: "email",
    Route.SENDGRID: "email",
    Route.MAILGUN: "email",
    Route.WEBCHAT: "chat",
    Route.TWILIO_SMS: "sms",
    Route.WHATSAPP: "whatsapp",
    Route.MESSENGER: "messenger",
    Route.INSTAGRAM: "instagram",
    Route.LINE: "line",
    Route.TELEGRAM: "telegram",
    Route.X: "x",
}

PROVIDER_OF_ROUTE: dict[Route, str] = {
    Route.SMTP: "smtp",
    Route.SENDGRID: "sendgrid",
    Route.MAILGUN: "mailgun",
    Route.WEBCHAT: "webchat",
    Route.TWILIO_SMS: "twilio",
    Route.WHATSAPP: "meta",
    Route.MESSENGER: "meta",
    Route.INSTAGRAM: "meta",
    Route.LINE: "line",
    Route.TELEGRAM: "telegram",
    Route.X: "x",
}

SERVICE_OF_ROUTE: dict[Route, str] = {
    Route.SMTP: "ingest_email",
    Route.SENDGRID: "ingest_email",
    Route.MAILGUN: "ingest_email",
    Route.WEBCHAT: "ingest_chat",
    Route.TWILIO_SMS: "ingest_chat",
    Route.WHATSAPP: "ingest_social",
    Route.MESSENGER: "ingest_social",
    Route.INSTAGRAM: "ingest_social",
    Route.LINE: "ingest_social",
    Route.TELEGRAM: "ingest_social",
    Route.X: "ingest_social",
}

SUPPORT_ADDRESS = "support@omni.example"
MAILGUN_ADDRESS = "support@mg.omni.example"
SENDGRID_ADDRESS = "support@parse.omni.example"
SUPPORT_PHONE = "+15005550006"
WHATSAPP_PHONE_ID = "106540352242922"
WHATSAPP_DISPLAY = "15550783881"
PAGE_ID = "104519332217654"
IG_ACCOUNT_ID = "17841405822304914"
LINE_DESTINATION = "U0f1e2d3c4b5a69788796a5b4c3d2e1f0"
X_USER_ID = "4337869213"
TWILIO_ACCOUNT = "AC" + "0" * 32


@dataclass(frozen=True, slots=True)
class Secrets:
    """The channel secrets; defaults are the development ones of deploy/local/services.sh."""

    twilio_auth_token: str = "dev-twilio-token"
    meta_app_secret: str = "dev-meta-secret"
    line_channel_secret: str = "dev-line-secret"
    telegram_secret_token: str = "dev-telegram-secret"
    x_consumer_secret: str = "dev-x-secret"
    mailgun_signing_key: str = "dev-mailgun-key"
    sendgrid_inbound_user: str = "dev-sendgrid"
    sendgrid_inbound_password: str = "dev-sendgrid-password"


@dataclass(frozen=True, slots=True)
class Customer:
    """One simulated person and the handle they have on each channel."""

    key: str
    name: str
    language: str
    email: str
    phone: str
    psid: str
    igsid: str
    line_user_id: str
    telegram_id: int
    x_user_id: str
    tier: str


@dataclass(frozen=True, slots=True)
class Contact:
    """One customer message as planned: who, where, what, and how it threads."""

    ref: str
    thread: str
    route: Route
    customer: Customer
    language: str
    intent: str
    subject: str
    text: str
    provider_message_id: str
    seq: int
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()

    @property
    def channel(self) -> str:
        return CHANNEL_OF_ROUTE[self.route]

    @property
    def provider(self) -> str:
        return PROVIDER_OF_ROUTE[self.route]

    @property
    def chat_session(self) -> str:
        return f"web-{self.thread}"


@dataclass(frozen=True, slots=True)
class HttpDelivery:
    service: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    method: str = "POST"


@dataclass(frozen=True, slots=True)
class MailDelivery:
    mail_from: str
    rcpt_to: tuple[str, ...]
    raw: bytes


Delivery = HttpDelivery | MailDelivery


def _json(doc: object) -> bytes:
    # Meta, LINE and X escape non-ASCII as \uXXXX; the signature covers exactly these bytes
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def build_delivery(contact: Contact, *, now: datetime, secrets: Secrets, base_urls: dict[str, str]) -> Delivery:
    """The request the provider would make for this message at `now`, signed with `secrets`."""
    builder = _BUILDERS[contact.route]
    return builder(contact, now, secrets, base_urls)


def _smtp(c: Contact, now: datetime, _s: Secrets, _b: dict[str, str]) -> Delivery:
    charset = "iso-2022-jp" if c.language == "ja" else "utf-8"
    msg = MIMEText(c.text + "\n", "plain", charset)
    msg["From"] = formataddr((c.customer.name, c.customer.email), charset)
    msg["To"] = formataddr(("Support", SUPPORT_ADDRESS))
    msg["Subject"] = Header(c.subject, charset).encode()
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = c.provider_message_id
    if c.in_reply_to:
        msg["In-Reply-To"] = c.in_reply_to
        msg["References"] = " ".join(c.references or (c.in_reply_to,))
    return MailDelivery(mail_from=c.customer.email, rcpt_to=(SUPPORT_ADDRESS,), raw=msg.as_bytes())


def _mailgun(c: Contact, now: datetime, s: Secrets, _b: dict[str, str]) -> Delivery:
    timestamp = str(int(now.timestamp()))
    # a fresh token per delivery attempt: the receiver refuses a reused token as a replay
    token = hashlib.sha256(f"{c.provider_message_id}|{now.isoformat()}".encode()).hexdigest()[:50]
    headers: list[list[str]] = [
        ["From", f"{c.customer.name} <{c.customer.email}>"],
        ["To", MAILGUN_ADDRESS],
        ["Subject", c.subject],
        ["Date", format_datetime(now)],
        ["Message-Id", c.provider_message_id],
    ]
    fields: list[tuple[str, str]] = [
        ("recipient", MAILGUN_ADDRESS),
        ("sender", c.customer.email),
        ("from", f"{c.customer.name} <{c.customer.email}>"),
        ("To", MAILGUN_ADDRESS),
        ("subject", c.subject),
        ("Message-Id", c.provider_message_id),
    ]
    if c.in_reply_to:
        refs = " ".join(c.references or (c.in_reply_to,))
        headers += [["In-Reply-To", c.in_reply_to], ["References", refs]]
        fields += [("In-Reply-To", c.in_reply_to), ("References", refs)]
    fields += [
        ("body-plain", c.text + "\n"),
        ("stripped-text", c.text),
        ("attachment-count", "0"),
        ("message-headers", json.dumps(headers, ensure_ascii=False)),
        ("timestamp", timestamp),
        ("token", token),
        ("signature", mailgun_signature(s.mailgun_signing_key, timestamp=timestamp, token=token)),
    ]
    return HttpDelivery(
        service="ingest_email",
        path="/webhooks/email/mailgun",
        headers=(("Content-Type", "application/x-www-form-urlencoded"),),
        body=urlencode(fields).encode("ascii"),
    )


def _form_data(parts: list[tuple[str, bytes, str | None]], boundary: str) -> bytes:
    """multipart/form-data as SendGrid frames it: one part per field, its charset where not ASCII."""
    out = bytearray()
    for name, value, charset in parts:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'.encode("ascii")
        if charset:
            out += f"Content-Type: text/plain; charset={charset}\r\n".encode("ascii")
        out += b"\r\n" + value + b"\r\n"
    out += f"--{boundary}--\r\n".encode("ascii")
    return bytes(out)


def _sendgrid(c: Contact, now: datetime, s: Secrets, _b: dict[str, str]) -> Delivery:
    """SendGrid Inbound Parse in its default (parsed) mode, behind the parse URL's basic auth.

    As SendGrid does, `text` keeps the mail's own charset (ISO-2022-JP for Japanese mail) and
    `charsets` names it; `headers` is the raw header block, RFC 2047-encoded where needed.
    """
    charset = "iso-2022-jp" if c.language == "ja" else "utf-8"
    header_lines = [
        f"From: {formataddr((c.customer.name, c.customer.email), charset)}",
        f"To: {formataddr(('Support', SENDGRID_ADDRESS))}",
        f"Subject: {Header(c.subject, charset).encode()}",
        f"Date: {format_datetime(now)}",
        f"Message-ID: {c.provider_message_id}",
        "MIME-Version: 1.0",
        f'Content-Type: text/plain; charset="{charset}"',
    ]
    if c.in_reply_to:
        header_lines += [f"In-Reply-To: {c.in_reply_to}", f"References: {' '.join(c.references or (c.in_reply_to,))}"]
    text = (c.text + "\n").encode(charset)
    envelope = json.dumps({"to": [SENDGRID_ADDRESS], "from": c.customer.email})
    charsets = json.dumps({"to": "UTF-8", "from": "UTF-8", "subject": "UTF-8", "text": charset})
    parts: list[tuple[str, bytes, str | None]] = [
        ("headers", ("\n".join(header_lines) + "\n").encode("ascii"), None),
        ("dkim", b"{@customer.example : pass}", None),
        ("to", f"Support <{SENDGRID_ADDRESS}>".encode(), None),
        ("from", f"{c.customer.name} <{c.customer.email}>".encode(), "utf-8"),
        ("text", text, charset),
        ("sender_ip", b"203.0.113.25", None),
        ("envelope", envelope.encode("ascii"), None),
        ("attachments", b"0", None),
        ("subject", c.subject.encode(), "utf-8"),
        ("charsets", charsets.encode("ascii"), None),
        ("SPF", b"pass", None),
    ]
    boundary = "xYzZY" + hashlib.sha1(c.provider_message_id.encode()).hexdigest()[:16]
    credentials = base64.b64encode(f"{s.sendgrid_inbound_user}:{s.sendgrid_inbound_password}".encode()).decode()
    return HttpDelivery(
        service="ingest_email",
        path="/webhooks/email/sendgrid",
        headers=(
            ("Content-Type", f"multipart/form-data; boundary={boundary}"),
            ("Authorization", f"Basic {credentials}"),
        ),
        body=_form_data(parts, boundary),
    )


def _webchat(c: Contact, _now: datetime, _s: Secrets, _b: dict[str, str]) -> Delivery:
    doc = {
        "text": c.text,
        "visitor": {"id": c.customer.key, "name": c.customer.name, "email": c.customer.email},
        "client_message_id": c.provider_message_id,
        "language": c.language,
    }
    return HttpDelivery(
        service="ingest_chat",
        path=f"/v1/chat/sessions/{c.chat_session}/messages",
        headers=(("Content-Type", "application/json"),),
        body=json.dumps(doc, ensure_ascii=False).encode("utf-8"),
    )


def _twilio(c: Contact, _now: datetime, s: Secrets, base_urls: dict[str, str]) -> Delivery:
    path = "/webhooks/sms/twilio"
    url = base_urls["ingest_chat"].rstrip("/") + path
    jp = c.customer.phone.startswith("+81")
    params: list[tuple[str, str]] = [
        ("ToCountry", "US"),
        ("ToState", "CA"),
        ("SmsMessageSid", c.provider_message_id),
        ("NumMedia", "0"),
        ("ToCity", ""),
        ("FromZip", ""),
        ("SmsSid", c.provider_message_id),
        ("FromState", ""),
        ("SmsStatus", "received"),
        ("FromCity", ""),
        ("Body", c.text),
        ("FromCountry", "JP" if jp else "US"),
        ("To", SUPPORT_PHONE),
        ("ToZip", ""),
        ("NumSegments", "1"),
        ("MessageSid", c.provider_message_id),
        ("AccountSid", TWILIO_ACCOUNT),
        ("From", c.customer.phone),
        ("ApiVersion", "2010-04-01"),
    ]
    return HttpDelivery(
        service="ingest_chat",
        path=path,
        headers=(
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Twilio-Signature", twilio_signature(s.twilio_auth_token, url, params)),
        ),
        body=urlencode(params).encode("ascii"),
    )


def _meta_delivery(doc: object, s: Secrets) -> HttpDelivery:
    body = _json(doc)
    return HttpDelivery(
        service="ingest_social",
        path="/webhooks/meta",
        headers=(
            ("Content-Type", "application/json"),
            ("X-Hub-Signature-256", meta_signature(s.meta_app_secret, body)),
        ),
        body=body,
    )


def _whatsapp(c: Contact, now: datetime, s: Secrets, _b: dict[str, str]) -> Delivery:
    wa_id = c.customer.phone.lstrip("+")
    doc = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": WHATSAPP_DISPLAY,
                                "phone_number_id": WHATSAPP_PHONE_ID,
                            },
                            "contacts": [{"profile": {"name": c.customer.name}, "wa_id": wa_id}],
                            "messages": [
                                {
                                    "from": wa_id,
                                    "id": c.provider_message_id,
                                    "timestamp": str(int(now.timestamp())),
                                    "type": "text",
                                    "text": {"body": c.text},
                                }
                            ],
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }
    return _meta_delivery(doc, s)


def _messaging(c: Contact, now: datetime, s: Secrets, *, obj: str, owner: str, sender: str) -> Delivery:
    ms = int(now.timestamp() * 1000)
    doc = {
        "object": obj,
        "entry": [
            {
                "id": owner,
                "time": ms,
                "messaging": [
                    {
                        "sender": {"id": sender},
                        "recipient": {"id": owner},
                        "timestamp": ms,
                        "message": {"mid": c.provider_message_id, "text": c.text},
                    }
                ],
            }
        ],
    }
    return _meta_delivery(doc, s)


def _messenger(c: Contact, now: datetime, s: Secrets, _b: dict[str, str]) -> Delivery:
    return _messaging(c, now, s, obj="page", owner=PAGE_ID, sender=c.customer.psid)


def _instagram(c: Contact, now: datetime, s: Secrets, _b: dict[str, str]) -> Delivery:
    return _messaging(c, now, s, obj="instagram", owner=IG_ACCOUNT_ID, sender=c.customer.igsid)


def _line(c: Contact, now: datetime, s: Secrets, _b: dict[str, str]) -> Delivery:
    doc = {
        "destination": LINE_DESTINATION,
        "events": [
            {
                "replyToken": c.provider_message_id.rjust(32, "r"),
                "type": "message",
                "mode": "active",
                "timestamp": int(now.timestamp() * 1000),
                "source": {"type": "user", "userId": c.customer.line_user_id},
                "webhookEventId": "01" + c.provider_message_id.rjust(24, "0"),
                "deliveryContext": {"isRedelivery": False},
                "message": {"id": c.provider_message_id, "type": "text", "text": c.text, "quoteToken": "q" + c.ref},
            }
        ],
    }
    body = _json(doc)
    return HttpDelivery(
        service="ingest_social",
        path="/webhooks/line",
        headers=(
            ("Content-Type", "application/json"),
            ("X-Line-Signature", line_signature(s.line_channel_secret, body)),
        ),
        body=body,
    )


def _telegram(c: Contact, now: datetime, s: Secrets, _b: dict[str, str]) -> Delivery:
    first, _, last = c.customer.name.partition(" ")
    person = {"id": c.customer.telegram_id, "is_bot": False, "first_name": first, "last_name": last or None}
    person = {k: v for k, v in person.items() if v is not None}
    if c.language == "ja":
        person["language_code"] = "ja"
    doc = {
        # unique per message across runs (Telegram de-duplicates on update_id)
        "update_id": int.from_bytes(hashlib.sha256(c.ref.encode()).digest()[:4], "big") % 10**9,
        "message": {
            "message_id": int(c.provider_message_id),
            "from": person,
            "chat": {"id": c.customer.telegram_id, "type": "private", "first_name": first},
            "date": int(now.timestamp()),
            "text": c.text,
        },
    }
    return HttpDelivery(
        service="ingest_social",
        path="/webhooks/telegram",
        headers=(("Content-Type", "application/json"), ("X-Telegram-Bot-Api-Secret-Token", s.telegram_secret_token)),
        body=_json(doc),
    )


def _x(c: Contact, now: datetime, s: Secrets, _b: dict[str, str]) -> Delivery:
    sender = c.customer.x_user_id
    doc = {
        "for_user_id": X_USER_ID,
        "direct_message_events": [
            {
                "type": "message_create",
                "id": c.provider_message_id,
                "created_timestamp": str(int(now.timestamp() * 1000)),
                "message_create": {
                    "target": {"recipient_id": X_USER_ID},
                    "sender_id": sender,
                    "source_app_id": "13090192",
                    "message_data": {
                        "text": c.text,
                        "entities": {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []},
                    },
                },
            }
        ],
        "users": {
            sender: {"id": sender, "name": c.customer.name, "screen_name": c.customer.key.replace("-", "_")},
            X_USER_ID: {"id": X_USER_ID, "name": "omni support", "screen_name": "omni_support"},
        },
    }
    body = _json(doc)
    return HttpDelivery(
        service="ingest_social",
        path="/webhooks/x",
        headers=(
            ("Content-Type", "application/json"),
            ("x-twitter-webhooks-signature", x_signature(s.x_consumer_secret, body)),
        ),
        body=body,
    )


_BUILDERS = {
    Route.SMTP: _smtp,
    Route.SENDGRID: _sendgrid,
    Route.MAILGUN: _mailgun,
    Route.WEBCHAT: _webchat,
    Route.TWILIO_SMS: _twilio,
    Route.WHATSAPP: _whatsapp,
    Route.MESSENGER: _messenger,
    Route.INSTAGRAM: _instagram,
    Route.LINE: _line,
    Route.TELEGRAM: _telegram,
    Route.X: _x,
}
