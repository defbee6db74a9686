"""Customers across channels: read a customer's identities and history, link another identity.

The router keys customers by identity (`omni_router.domain.identity`): the same e-mail or phone
is the same customer on every channel by itself; anything else is linked here. Linking an
identity that already belongs to another customer merges that customer into this one: its
identities and its conversations move over, so its history and its last agent (sticky routing)
follow. Conversation events already published keep the customer id they were published with.

A link or merge takes `router_customers` in SHARE ROW EXCLUSIVE mode for its transaction (a few
milliseconds; it is an operator's action): routing transactions that are resolving customers
finish first, and new ones wait, so no message can attach a fresh identity to the customer id
being merged away while the merge runs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import FastAPI
from fastapi.params import Depends
from pydantic import AfterValidator, BaseModel, Field

from omni_router.adapters.postgres import storable_text
from omni_router.domain.identity import IdentityError, parse_identity
from omni_service.http import ApiError

_HISTORY = 50
_Text = Annotated[str, AfterValidator(storable_text)]  # NUL or an unpaired surrogate: a 400, not a 500


class IdentityBody(BaseModel):
    identity: _Text = Field(
        min_length=1,
        max_length=512,
        description="An e-mail, an E.164 phone number, or channel:id (line:U4af49806..., telegram:5123, chat:visitor-17).",
        examples=["line:U4af4980629c1e5b5e4e2c6e34f1a7b2", "+819012345678", "hanako@example.jp"],
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def _customer_doc(conn: asyncpg.Connection, customer_id: str) -> dict[str, Any] | None:
    identities = await conn.fetch(
        "select address, created_at from router_customers where customer_id = $1 order by created_at, address",
        customer_id,
    )
    conversations = await conn.fetch(
        """select conversation_id, channel, state, queue, agent_id, last_agent_id, opened_at, resolved_at
             from router_conversations where customer_id = $1 order by opened_at desc limit $2""",
        customer_id,
        _HISTORY,
    )
    if not identities and not conversations:
        return None
    return {
        "customer_id": customer_id,
        "identities": [r["address"] for r in identities],
        "conversations": [
            {
                "conversation_id": str(r["conversation_id"]),
                "channel": r["channel"],
                "state": r["state"],
                "queue": r["queue"],
                "agent_id": r["agent_id"] or r["last_agent_id"],
                "opened_at": _iso(r["opened_at"]),
                "resolved_at": _iso(r["resolved_at"]),
            }
            for r in conversations
        ],
    }


def _identity(text: str) -> str:
    try:
        return parse_identity(text)
    except IdentityError as exc:
        raise ApiError(400, "invalid_identity", str(exc)) from exc


async def link_identity(conn: asyncpg.Connection, customer_id: str, identity: str) -> list[str]:
    """Attach `identity` to `customer_id` (merging its current owner in); the merged customer ids."""
    async with conn.transaction():
        await conn.execute("lock table router_customers in share row exclusive mode")
        known = await conn.fetchval("select 1 from router_customers where customer_id = $1 limit 1", customer_id)
        if known is None:
            raise ApiError(404, "unknown_customer", f"no customer {customer_id!r}")
        owner = await conn.fetchval("select customer_id from router_customers where address = $1", identity)
        if owner is None:
            await conn.execute(
                "insert into router_customers (address, customer_id) values ($1, $2)", identity, customer_id
            )
            return []
        if owner == customer_id:
            return []
        await conn.execute("update router_customers set customer_id = $1 where customer_id = $2", customer_id, owner)
        await conn.execute(
            "update router_conversations set customer_id = $1 where customer_id = $2", customer_id, owner
        )
        return [str(owner)]


def add_customer_routes(app: FastAPI, *, pool: Callable[[], asyncpg.Pool], auth: Depends) -> None:
    """`GET /v1/customers/{id}`, `GET /v1/customers/by-identity/{identity}`, `POST /v1/customers/{id}/identities`."""

    @app.get(
        "/v1/customers/by-identity/{identity}",
        tags=["customers"],
        summary="The customer an identity (e-mail, E.164 phone or channel:id) belongs to",
        dependencies=[auth],
    )
    async def customer_by_identity(identity: _Text) -> dict[str, Any]:
        key = _identity(identity)
        async with pool().acquire() as conn:
            customer_id = await conn.fetchval("select customer_id from router_customers where address = $1", key)
            doc = None if customer_id is None else await _customer_doc(conn, str(customer_id))
        if doc is None:
            raise ApiError(404, "unknown_identity", f"no customer has the identity {key!r}")
        return doc

    @app.get(
        "/v1/customers/{customer_id}",
        tags=["customers"],
        summary="A customer's identities and latest conversations",
        dependencies=[auth],
    )
    async def get_customer(customer_id: _Text) -> dict[str, Any]:
        async with pool().acquire() as conn:
            doc = await _customer_doc(conn, customer_id)
        if doc is None:
            raise ApiError(404, "unknown_customer", f"no customer {customer_id!r}")
        return doc

    @app.post(
        "/v1/customers/{customer_id}/identities",
        tags=["customers"],
        summary="Link an identity to a customer (merging the customer who had it)",
        dependencies=[auth],
    )
    async def post_identity(customer_id: _Text, body: IdentityBody) -> dict[str, Any]:
        key = _identity(body.identity)
        async with pool().acquire() as conn:
            merged = await link_identity(conn, customer_id, key)
            doc = await _customer_doc(conn, customer_id)
        assert doc is not None
        return {**doc, "merged": merged}
