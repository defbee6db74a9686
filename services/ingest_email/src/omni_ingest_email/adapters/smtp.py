"""The SMTP listener (aiosmtpd) on the service's own event loop.

250 only after Kafka acknowledged the event; 451 (the sending MTA keeps the mail and retries)
when Kafka or anything else transient fails; 554 for a mail that can never become a message;
552 above the size limit (aiosmtpd's own check).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

from omni_ingest_email.domain import MalformedEmail, parse_rfc5322
from omni_ingest_email.handlers import EmailIngest
from omni_schemas import Provider
from omni_service.kafka import KafkaUnavailable

log = structlog.get_logger(__name__)


class MailHandler:
    """aiosmtpd handler: every RCPT TO is kept on the envelope; DATA goes through the accept path."""

    def __init__(self, ingest: EmailIngest) -> None:
        self.ingest = ingest

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= 100:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        started = self.ingest.received(Provider.SMTP)
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        mail_from = envelope.mail_from if envelope.mail_from is not None else None
        try:
            mail = await self.ingest.parse(
                self.ingest.heavy(raw),
                lambda: parse_rfc5322(raw, envelope_from=mail_from, envelope_to=list(envelope.rcpt_tos)),
            )
            accepted = await self.ingest.accept(mail, provider=Provider.SMTP, started=started)
        except MalformedEmail as exc:
            self.ingest.reject(Provider.SMTP, "malformed")
            return f"554 5.6.0 Message rejected: {exc}"[:500]
        except KafkaUnavailable:
            return "451 4.3.0 Temporarily unable to queue the message, try again later"
        except Exception:
            log.exception("smtp delivery failed; the sender will retry")
            self.ingest.reject(Provider.SMTP, "error")
            return "451 4.3.0 Temporary failure, try again later"
        return f"250 2.0.0 OK queued as {accepted.message_id}"


class SmtpListener:
    """An aiosmtpd server bound on the running loop (so it shares the Kafka producer and Redis pool)."""

    def __init__(
        self, handler: MailHandler, *, host: str, port: int, data_size_limit: int, hostname: str | None
    ) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.data_size_limit = data_size_limit
        self.hostname = hostname
        self._server: asyncio.AbstractServer | None = None

    def _protocol(self) -> SMTP:
        kwargs: dict[str, Any] = {
            "data_size_limit": self.data_size_limit,
            "enable_SMTPUTF8": True,
            "ident": "omni ingest_email",
            "timeout": 300,
        }
        if self.hostname:
            kwargs["hostname"] = self.hostname
        return SMTP(self.handler, **kwargs)

    async def start(self) -> None:
        if not self.hostname:  # aiosmtpd would otherwise resolve the FQDN on every connection
            self.hostname = await asyncio.to_thread(socket.getfqdn)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, host=self.host, port=self.port, reuse_address=True)
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])
        log.info("smtp listening", host=self.host, port=self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None

    def ready(self) -> bool:
        return self._server is not None and self._server.is_serving()
