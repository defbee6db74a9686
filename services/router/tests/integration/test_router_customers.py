"""On real Kafka and PostgreSQL: one customer across channels (same e-mail or phone by itself, other
ids linked through the API, merging history so that the customer's last agent follows them)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from omni_router.app import create_app
from omni_router.settings import Settings
from omni_schemas import new_event
from omni_service.kafka import EventPublisher
from omni_service.metrics import ServiceMetrics
from omni_service.testing import read_events, running_app, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
AUTH = {"Authorization": "Bearer test-token"}
CONV = "omni.conversations.v1"
OPENED = "omni.conversation.opened.v1"
PROVIDER = {"email": "smtp", "line": "line", "sms": "twilio", "whatsapp": "meta", "telegram": "telegram", "x": "x"}


def message(thread_key: str, *, channel: str, address: str) -> Any:
    return new_event(
        "omni.message.received.v1",
        {
            "message_id": str(uuid.uuid4()),
            "channel": channel,
            "provider": PROVIDER[channel],
            "provider_message_id": None,
            "thread_key": thread_key,
            "customer": {"address": address, "display_name": None},
            "text": "Where is my order?",
            "language": "en",
            "received_at": datetime.now(UTC).isoformat(),
        },
        source="/omni/test",
    )


async def opened(kafka_bootstrap: str, topic: str, count: int) -> dict[str, str]:
    """thread_key -> customer_id of the first `count` opened conversations."""
    events = await read_events(kafka_bootstrap, topic, count=count, timeout_s=30, types={OPENED})
    return {str(e.data.thread_key): str(e.data.customer_id) for e in events}  # type: ignore[attr-defined]


async def test_one_customer_across_channels_and_linked_identities(
    service_env: dict[str, Any], kafka_bootstrap: str, topic_suffix: str
) -> None:
    app = create_app(Settings(**service_env, router_tick_s=0.1))
    pub = EventPublisher(
        bootstrap=kafka_bootstrap, service="test", metrics=ServiceMetrics("test"), topic_suffix=topic_suffix
    )
    await pub.start(wait=True)
    try:
        async with running_app(app) as client:
            await wait_ready(client)
            await pub.publish(message("email:t1", channel="email", address="hanako@example.jp"))
            await pub.publish(message("sms:t2", channel="sms", address="+819012345678"))
            await pub.publish(message("wa:t3", channel="whatsapp", address="+819012345678"))
            await pub.publish(message("line:t4", channel="line", address="U4af4980629"))
            # the same digits on two channels are two people
            await pub.publish(message("tg:t5", channel="telegram", address="4337869213"))
            await pub.publish(message("x:t6", channel="x", address="4337869213"))
            customers = await opened(kafka_bootstrap, CONV + topic_suffix, 6)
            assert customers["sms:t2"] == customers["wa:t3"]
            assert customers["tg:t5"] != customers["x:t6"]
            assert len({customers[t] for t in ("email:t1", "sms:t2", "line:t4", "tg:t5", "x:t6")}) == 5

            mail_customer, line_customer = customers["email:t1"], customers["line:t4"]
            r = await client.get("/v1/customers/by-identity/line:U4af4980629", headers=AUTH)
            assert r.status_code == 200, r.text
            assert r.json()["customer_id"] == line_customer
            assert r.json()["identities"] == ["line:U4af4980629"]

            # the operator knows this LINE user is the e-mail customer: link, which merges
            r = await client.post(
                f"/v1/customers/{mail_customer}/identities", json={"identity": "line:U4af4980629"}, headers=AUTH
            )
            assert r.status_code == 200, r.text
            doc = r.json()
            assert doc["merged"] == [line_customer]
            assert sorted(doc["identities"]) == ["hanako@example.jp", "line:U4af4980629"]
            assert {c["channel"] for c in doc["conversations"]} == {"email", "line"}
            r = await client.get(f"/v1/customers/{line_customer}", headers=AUTH)
            assert (r.status_code, r.json()["error"]["code"]) == (404, "unknown_customer")
            # linking again changes nothing
            r = await client.post(
                f"/v1/customers/{mail_customer}/identities", json={"identity": "line:U4af4980629"}, headers=AUTH
            )
            assert (r.status_code, r.json()["merged"]) == (200, [])

            # the next LINE thread of that user opens for the merged customer
            await pub.publish(message("line:t7", channel="line", address="U4af4980629"))
            customers = await opened(kafka_bootstrap, CONV + topic_suffix, 7)
            assert customers["line:t7"] == mail_customer

            # a new identity (a phone) linked to a customer is used by the next SMS
            r = await client.post(
                f"/v1/customers/{mail_customer}/identities", json={"identity": "+818011112222"}, headers=AUTH
            )
            assert (r.status_code, r.json()["merged"]) == (200, [])
            await pub.publish(message("sms:t8", channel="sms", address="+818011112222"))
            customers = await opened(kafka_bootstrap, CONV + topic_suffix, 8)
            assert customers["sms:t8"] == mail_customer

            # precise errors
            r = await client.post(
                f"/v1/customers/{mail_customer}/identities", json={"identity": "U4af4980629"}, headers=AUTH
            )
            assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_identity")
            assert "channel:id" in r.json()["error"]["message"]
            r = await client.post("/v1/customers/cust-nobody/identities", json={"identity": "x:1"}, headers=AUTH)
            assert (r.status_code, r.json()["error"]["code"]) == (404, "unknown_customer")
            r = await client.get("/v1/customers/by-identity/line:Unobody", headers=AUTH)
            assert (r.status_code, r.json()["error"]["code"]) == (404, "unknown_identity")
            r = await client.get(f"/v1/customers/{mail_customer}")
            assert r.status_code == 401
    finally:
        await pub.stop()
