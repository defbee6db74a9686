"""The imperative shell: plays a plan against the real endpoints and plays the agents' part.

Customers' messages go to the ingest services (HTTP and SMTP) with retries like a provider's;
agents watch `omni.conversations.v1` (the agent desktop's push), accept or decline offers, reply
and resolve through the router's agent API. Everything observed is written to the ground truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import smtplib
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from omni_schemas import CloudEvent
from omni_sim.domain.agents import AgentProfile, reply_text
from omni_sim.domain.payloads import Contact, HttpDelivery, MailDelivery, Route, Secrets, build_delivery
from omni_sim.domain.scenario import AbandonStep, Plan, SendStep
from omni_sim.domain.truth import GroundTruth, find_ref
from omni_sim.endpoints import Endpoints
from omni_sim.topics import Positions, Tail, end_positions

log = structlog.get_logger(__name__)

MESSAGES = "omni.messages.v1"
CONVERSATIONS = "omni.conversations.v1"
_PERMANENT = {400, 401, 403, 404, 405, 406, 413, 415, 422}


@dataclass(slots=True)
class ConversationState:
    conversation_id: str
    channel: str
    thread: str | None = None
    agent_id: str | None = None
    opened_at: float | None = None
    assigned_at: float | None = None
    done: bool = False


@dataclass(slots=True)
class Stats:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    opened: int = 0
    assigned: int = 0
    resolved: int = 0
    abandoned: int = 0
    statuses: Counter[str] = field(default_factory=Counter)


def send_mail(host: str, port: int, delivery: MailDelivery, *, timeout_s: float = 15) -> int:
    """Hand one mail to an SMTP server as an MTA does; the reply code (250 once accepted)."""
    try:
        with smtplib.SMTP(host, port, timeout=timeout_s) as smtp:
            smtp.sendmail(delivery.mail_from, list(delivery.rcpt_to), delivery.raw)
        return 250
    except smtplib.SMTPResponseException as exc:
        return int(exc.smtp_code)
    except smtplib.SMTPRecipientsRefused as exc:
        return int(next(iter(exc.recipients.values()))[0])


class Simulation:
    """One run: `async with Simulation(...) as sim: await sim.play(); await sim.drain()`."""

    def __init__(
        self,
        plan: Plan,
        roster: list[AgentProfile],
        *,
        endpoints: Endpoints,
        secrets: Secrets,
        seed: int,
        retry_for_s: float = 45.0,
        concurrency: int = 64,
    ) -> None:
        self.plan = plan
        self.roster = {a.agent_id: a for a in roster}
        self.endpoints = endpoints
        self.secrets = secrets
        self.rng = random.Random(f"behaviour:{seed}")
        self.retry_for_s = retry_for_s
        self.truth = GroundTruth(run_id=plan.run_id)
        self.stats = Stats()
        self.positions: Positions = {}
        self.conversations: dict[str, ConversationState] = {}
        self.thread_key_of_ref: dict[str, str] = {}
        self.thread_of_key: dict[str, str] = {}
        self.conversation_of_thread: dict[str, str] = {}
        self.assign_latency_s: list[float] = []
        self._accepted_wall: dict[str, float] = {}
        self._first_ref_of_thread = {t.thread: t.refs[0] for t in plan.threads.values()}
        self._thread_of_ref = {ref: t.thread for t in plan.threads.values() for ref in t.refs}
        self._message_thread: dict[str, str] = {}
        self._conv_of_first_message: dict[str, str] = {}
        self._sem = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._working: set[str] = set()
        self._traffic_done = asyncio.Event()
        self._http: httpx.AsyncClient | None = None
        self._tail: Tail | None = None
        self.started_at = 0.0

    # --- lifecycle -----------------------------------------------------------------

    async def __aenter__(self) -> Simulation:
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=3.0))
        topics = [self.endpoints.topic(MESSAGES), self.endpoints.topic(CONVERSATIONS)]
        self.positions = await end_positions(self.endpoints.kafka_bootstrap, topics)
        self._tail = Tail(self.endpoints.kafka_bootstrap, self.positions, self._on_event)
        await self._tail.start()
        await self._register_agents()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._tail is not None:
            await self._tail.stop()
        if self._http is not None:
            await self._http.aclose()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- agent API -------------------------------------------------------------------

    async def _api(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response | None:
        """Call the router's agent API, retrying while it is away (restarts, Kafka outages)."""
        assert self._http is not None
        url = self.endpoints.url("router") + path
        headers = {"Authorization": f"Bearer {self.endpoints.api_token}"}
        deadline = time.monotonic() + self.retry_for_s
        delay = 0.2
        while True:
            try:
                response = await self._http.request(method, url, json=body, headers=headers)
                if response.status_code < 500 or time.monotonic() > deadline:
                    self.stats.statuses[f"api {response.status_code}"] += 1
                    return response
            except httpx.HTTPError as exc:
                if time.monotonic() > deadline:
                    self.truth.errors[f"api {type(exc).__name__}"] += 1
                    return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _register_agents(self) -> None:
        for agent in self.roster.values():
            r = await self._api("PUT", f"/v1/agents/{agent.agent_id}", agent.api_body())
            if r is None or r.status_code >= 300:
                raise RuntimeError(
                    f"router refused agent {agent.agent_id}: {r.status_code if r else 'no answer'} {r.text if r else ''}"
                )
        for agent in self.roster.values():
            await self._api("PUT", f"/v1/agents/{agent.agent_id}/presence", {"status": "available"})
        await self._release_leftovers()

    async def _release_leftovers(self) -> None:
        """Resolve conversations a previous, interrupted run left with these agents."""
        for agent in self.roster.values():
            r = await self._api("GET", f"/v1/agents/{agent.agent_id}")
            if r is None or r.status_code != 200:
                continue
            doc = r.json()
            held = doc.get("conversations") or doc.get("conversation_ids") or doc.get("assigned") or []
            for item in held if isinstance(held, list) else []:
                conv = item.get("conversation_id") if isinstance(item, dict) else item
                offered = isinstance(item, dict) and item.get("state") == "offered"
                if isinstance(conv, str):
                    action = "decline" if offered else "resolve"
                    await self._api("POST", f"/v1/conversations/{conv}/{action}", {"agent_id": agent.agent_id})

    async def set_presence(self, status: str) -> None:
        for agent in self.roster.values():
            await self._api("PUT", f"/v1/agents/{agent.agent_id}/presence", {"status": status})

    # --- customers -------------------------------------------------------------------

    async def play(self, *, time_scale: float = 1.0) -> None:
        """Send every step of the plan at its time (times divided by `time_scale`)."""
        loop = asyncio.get_running_loop()
        self.started_at = loop.time()
        self._spawn(self._presence_schedule(time_scale))
        pending: list[asyncio.Task[Any]] = []
        for step in self.plan.steps:
            delay = self.started_at + step.at / time_scale - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if isinstance(step, SendStep):
                pending.append(asyncio.create_task(self._send(step.contact)))
            elif isinstance(step, AbandonStep):
                pending.append(asyncio.create_task(self._abandon(step)))
        await asyncio.gather(*pending)
        self._traffic_done.set()

    async def _presence_schedule(self, time_scale: float) -> None:
        loop = asyncio.get_running_loop()
        changes = sorted(
            (at, agent.agent_id, status)
            for agent in self.roster.values()
            for start, end in agent.away
            for at, status in ((start, "away"), (end, "available"))
        )
        for at, agent_id, status in changes:
            delay = self.started_at + at / time_scale - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self._traffic_done.is_set():
                return
            await self._api("PUT", f"/v1/agents/{agent_id}/presence", {"status": status})

    async def _send(self, contact: Contact) -> None:
        async with self._sem:
            status = await self._deliver(contact)
        now = time.time()
        self.truth.record_send(contact.ref, thread=contact.thread, channel=contact.channel, status=status, at=now)
        self.stats.sent += 1
        self.stats.statuses[f"{contact.route.value} {status}"] += 1
        if 200 <= status < 300:
            self.stats.accepted += 1
            self._accepted_wall[contact.ref] = now
        else:
            self.stats.rejected += 1

    async def _deliver(self, contact: Contact) -> int:
        """Deliver like the provider would: retry 5xx and connection errors, give up on 4xx.

        A retry resends the very same request (same bytes, same Date header, same signature), as
        providers and MTAs do; that is what receivers recognize as a redelivery.
        """
        deadline = time.monotonic() + self.retry_for_s
        delay = 0.2
        status = 0
        delivery = build_delivery(
            contact, now=datetime.now(UTC), secrets=self.secrets, base_urls=self.endpoints.base_urls
        )
        while True:
            try:
                if isinstance(delivery, MailDelivery):
                    status = await asyncio.to_thread(self._smtp, delivery)
                else:
                    status = await self._post(delivery)
            except (httpx.HTTPError, OSError, smtplib.SMTPException) as exc:
                status = 0
                self.truth.errors[f"{contact.route.value} {type(exc).__name__}"] += 1
            if 200 <= status < 300 or status in _PERMANENT or time.monotonic() > deadline:
                return status
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _post(self, delivery: HttpDelivery) -> int:
        assert self._http is not None
        url = self.endpoints.url(delivery.service) + delivery.path
        response = await self._http.post(url, content=delivery.body, headers=dict(delivery.headers))
        return response.status_code

    def _smtp(self, delivery: MailDelivery) -> int:
        return send_mail(self.endpoints.host, self.endpoints.smtp_port, delivery)

    async def _abandon(self, step: AbandonStep) -> None:
        thread = self.plan.threads[step.thread]
        ref = thread.refs[0]
        for _ in range(100):  # the first message may still be on its way
            if ref in self.truth.sent:
                break
            await asyncio.sleep(0.1)
        if ref not in self.truth.accepted:
            return
        if thread.route is Route.WEBCHAT:
            await self._close_chat(step.thread, f"web-{step.thread}")
            return
        for _ in range(100):
            if ref in self.thread_key_of_ref:
                break
            await asyncio.sleep(0.1)
        thread_key = self.thread_key_of_ref.get(ref)
        if thread_key is None:
            self.truth.errors["abandon: message never seen on omni.messages.v1"] += 1
            return
        path = f"/v1/conversations/by-thread/{quote(thread_key, safe='')}/abandon"
        for _ in range(30):
            conv = self.conversation_of_thread.get(step.thread)
            state = self.conversations.get(conv) if conv else None
            if state is not None and (state.done or state.agent_id is not None):
                self.truth.abandon_refused.add(step.thread)  # an agent has it, or it already ended
                return
            r = await self._api("POST", path, {"reason": "customer_left"})
            if r is not None and r.status_code == 404 and state is None:
                await asyncio.sleep(0.3)  # the router has not opened it yet
                continue
            if r is not None and 200 <= r.status_code < 300:
                self.truth.abandoned.add(step.thread)
                self.stats.abandoned += 1
            else:
                self.truth.abandon_refused.add(step.thread)
            return

    async def _close_chat(self, thread: str, session: str) -> None:
        assert self._http is not None
        url = self.endpoints.url("ingest_chat") + f"/v1/chat/sessions/{session}/close"
        deadline = time.monotonic() + self.retry_for_s
        while True:
            try:
                r = await self._http.post(url)
                if r.status_code < 500:
                    ok = r.status_code < 300 and bool(r.json().get("abandoned"))
                    if ok:
                        self.truth.abandoned.add(thread)
                        self.stats.abandoned += 1
                    else:
                        self.truth.abandon_refused.add(thread)
                    return
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                self.truth.abandon_refused.add(thread)
                return
            await asyncio.sleep(0.5)

    # --- what omni publishes ---------------------------------------------------------

    async def _on_event(self, topic: str, event: CloudEvent) -> None:
        try:
            if topic == self.endpoints.topic(MESSAGES):
                self._on_message(event)
            else:
                self._on_conversation(event)
        except Exception as exc:  # a bug here must not stop the tail
            log.exception("simulator failed to handle an event", type=event.type, error=str(exc))

    def _on_message(self, event: CloudEvent) -> None:
        data = event.data
        ref = find_ref(getattr(data, "text", None))
        if ref is None or not ref.startswith(self.plan.run_id + "-"):
            return
        thread_key = str(getattr(data, "thread_key", ""))
        self.thread_key_of_ref[ref] = thread_key
        thread = self._thread_of_ref.get(ref)
        if thread is not None:
            message_id = str(getattr(data, "message_id", ""))
            self.thread_of_key[thread_key] = thread
            self._message_thread[message_id] = thread
            early = self._conv_of_first_message.get(message_id)
            if early is not None and self.conversations[early].thread is None:
                self._attach(self.conversations[early], thread)

    def _attach(self, state: ConversationState, thread: str) -> None:
        state.thread = thread
        self.conversation_of_thread[thread] = state.conversation_id
        self.stats.opened += 1

    def _on_conversation(self, event: CloudEvent) -> None:
        data = event.data
        conv_id = str(getattr(data, "conversation_id", ""))
        kind = event.type.removeprefix("omni.conversation.").removesuffix(".v1")
        state = self.conversations.get(conv_id)
        if kind == "opened":
            thread = self.thread_of_key.get(str(getattr(data, "thread_key", "")))
            if thread is None:
                thread = self._message_thread.get(str(getattr(data, "first_message_id", "")))
            if state is None:
                state = ConversationState(conv_id, channel=str(getattr(data, "channel", "")))
                self.conversations[conv_id] = state
                self._conv_of_first_message[str(getattr(data, "first_message_id", ""))] = conv_id
                if thread is not None:
                    self._attach(state, thread)
            state.opened_at = event.time.timestamp()
            return
        agent_id = getattr(data, "agent_id", None)
        if state is None:
            if agent_id not in self.roster:
                return
            # not one of this run's, but held by our agent (a leftover): work it off anyway
            state = ConversationState(conv_id, channel=str(getattr(data, "channel", "")))
            self.conversations[conv_id] = state
        if kind == "offered" and agent_id in self.roster:
            self._spawn(self._answer_offer(state, agent_id))
        elif kind == "assigned":
            state.agent_id = agent_id
            if state.assigned_at is None:
                state.assigned_at = event.time.timestamp()
                if state.thread is not None:
                    self.stats.assigned += 1
                    first = self._first_ref_of_thread.get(state.thread)
                    if first in self._accepted_wall:
                        self.assign_latency_s.append(max(0.0, state.assigned_at - self._accepted_wall[first]))
            if agent_id in self.roster and conv_id not in self._working:
                self._working.add(conv_id)
                self._spawn(self._work(state, agent_id))
        elif kind in ("resolved", "abandoned"):
            state.done = True
            state.agent_id = None
        elif kind == "transferred":
            state.agent_id = None

    async def _answer_offer(self, state: ConversationState, agent_id: str) -> None:
        agent = self.roster[agent_id]
        # agents take a moment to notice an offer; a customer may give up meanwhile
        await asyncio.sleep(self.rng.uniform(0.3, 3.0))
        accept = self.rng.random() < agent.accept_probability
        action = "accept" if accept else "decline"
        r = await self._api("POST", f"/v1/conversations/{state.conversation_id}/{action}", {"agent_id": agent_id})
        if r is not None and r.status_code < 300:
            if accept:
                self.truth.accepted_offers += 1
            else:
                self.truth.declined_offers += 1

    async def _work(self, state: ConversationState, agent_id: str) -> None:
        agent = self.roster[agent_id]
        low, high = agent.handle_s
        await asyncio.sleep(self.rng.uniform(low, high) / 2)
        # looked up after the first pause: the opened event may have come before its message
        thread = self.plan.threads.get(state.thread) if state.thread else None
        language = thread.language if thread else None
        conv = state.conversation_id
        r = await self._api(
            "POST", f"/v1/conversations/{conv}/reply", {"agent_id": agent_id, "text": reply_text(language)}
        )
        if r is not None and r.status_code < 300:
            self.truth.replies += 1
        # resolve only once every message this customer planned in the thread has been sent,
        # so that each thread stays exactly one conversation
        while thread is not None and not all(ref in self.truth.sent for ref in thread.refs):
            if self._traffic_done.is_set():
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(self.rng.uniform(low, high) / 2)
        if state.done or state.agent_id not in (agent_id, None):
            self._working.discard(conv)
            return
        r = await self._api("POST", f"/v1/conversations/{conv}/resolve", {"agent_id": agent_id})
        self._working.discard(conv)
        if r is None or r.status_code >= 300:
            self.truth.errors[f"resolve {r.status_code if r is not None else 'no answer'}"] += 1
            return
        if thread is None:
            return
        self.truth.resolved.add(conv)
        self.stats.resolved += 1
        if thread.csat_score is not None:
            await asyncio.sleep(self.rng.uniform(0.1, 0.5))
            c = await self._api("POST", f"/v1/conversations/{conv}/csat", {"score": thread.csat_score})
            if c is not None and c.status_code < 300:
                self.truth.csat[conv] = thread.csat_score

    # --- after the traffic -----------------------------------------------------------

    def outstanding(self) -> list[str]:
        """Accepted threads whose conversation is not yet resolved or abandoned."""
        out = []
        for thread in self.truth.threads_accepted:
            conv = self.conversation_of_thread.get(thread)
            if conv is None or not self.conversations[conv].done:
                out.append(thread)
        return out

    async def drain(self, *, timeout_s: float = 60.0) -> list[str]:
        """Wait until every accepted thread ended (or time ran out); returns those still open."""
        await self._traffic_done.wait()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            left = self.outstanding()
            if not left and not self._working:
                break
            await asyncio.sleep(0.25)
        # the last CSAT answers and replies
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*list(self._tasks), return_exceptions=True), timeout=10)
        return self.outstanding()

    @property
    def capacities(self) -> dict[str, dict[str, int]]:
        return {a.agent_id: dict(a.capacity) for a in self.roster.values()}
