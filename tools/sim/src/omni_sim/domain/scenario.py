"""A seeded plan of customer traffic: arrivals with bursts, threads, follow-ups, abandonment, CSAT.

The story (when, which channel, what text) comes from `seed` alone, so a run repeats exactly.
Handles and provider ids also carry `run_id`: providers and ingest de-duplicate on their ids, so
a second run with the same seed must not look like a redelivery of the first.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from omni_sim.domain.payloads import CHANNEL_OF_ROUTE, Contact, Customer, Route
from omni_sim.domain.texts import LANGUAGES, Intent, pick_follow_up, pick_text

DEFAULT_ROUTE_WEIGHTS: dict[Route, float] = {
    Route.SMTP: 1.5,
    Route.SENDGRID: 1.0,
    Route.MAILGUN: 1.0,
    Route.WEBCHAT: 3.0,
    Route.TWILIO_SMS: 1.5,
    Route.WHATSAPP: 1.0,
    Route.MESSENGER: 0.7,
    Route.INSTAGRAM: 0.5,
    Route.LINE: 1.5,
    Route.TELEGRAM: 0.5,
    Route.X: 0.5,
}

# Channels where the customer waits live and may give up; e-mail customers do not abandon.
LIVE_ROUTES = frozenset(r for r in Route if CHANNEL_OF_ROUTE[r] != "email")

_FIRST = {
    "en": ("Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Oscar"),
    "ja": ("Haruto", "Yui", "Sota", "Hina", "Ren", "Aoi", "Yuto", "Sakura", "Riku", "Mei", "Kaito", "Rin"),
}
_LAST = {
    "en": ("Smith", "Jones", "Brown", "Taylor", "Wilson", "Evans", "Clark", "Lewis"),
    "ja": ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura"),
}


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    seconds: float = 60.0
    rate: float = 1.0
    """New conversations per second outside bursts."""
    burst_every_s: float = 20.0
    burst_length_s: float = 3.0
    burst_factor: float = 4.0
    japanese_share: float = 0.4
    follow_up_probability: float = 0.3
    other_channel_probability: float = 0.15
    abandon_probability: float = 0.1
    csat_probability: float = 0.6
    route_weights: dict[Route, float] = field(default_factory=lambda: dict(DEFAULT_ROUTE_WEIGHTS))

    def rate_at(self, t: float) -> float:
        in_burst = self.burst_every_s > 0 and (t % self.burst_every_s) >= self.burst_every_s - self.burst_length_s
        return self.rate * (self.burst_factor if in_burst else 1.0)


@dataclass(frozen=True, slots=True)
class SendStep:
    at: float
    contact: Contact


@dataclass(frozen=True, slots=True)
class AbandonStep:
    at: float
    thread: str


Step = SendStep | AbandonStep


@dataclass(frozen=True, slots=True)
class ThreadPlan:
    """One conversation as the customer lives it."""

    thread: str
    route: Route
    customer: Customer
    intent: Intent
    language: str
    refs: tuple[str, ...]
    abandons: bool
    csat_score: int | None


@dataclass(frozen=True, slots=True)
class Plan:
    run_id: str
    seed: int
    steps: tuple[Step, ...]
    threads: dict[str, ThreadPlan]
    customers: tuple[Customer, ...]

    @property
    def contacts(self) -> list[Contact]:
        return [s.contact for s in self.steps if isinstance(s, SendStep)]


def _digits(seed_text: str, n: int) -> str:
    h = int.from_bytes(hashlib.sha256(seed_text.encode()).digest()[:16], "big")
    return str(h % 10**n).zfill(n)


def make_customer(rng: random.Random, *, run_id: str, index: int, language: str) -> Customer:
    """A person with a handle on every channel; handles are unique per (run_id, index)."""
    first, last = rng.choice(_FIRST[language]), rng.choice(_LAST[language])
    tag = f"{run_id}:{index}"
    key = f"c{run_id}-{index:04d}"
    if language == "ja":
        phone = "+8190" + _digits(tag + "p", 8)
        domain = "example.jp"
    else:
        phone = "+1646" + _digits(tag + "p", 7)
        domain = "example.com"
    return Customer(
        key=key,
        name=f"{first} {last}",
        language=language,
        email=f"{first.lower()}.{last.lower()}.{run_id}{index}@{domain}",
        phone=phone,
        psid="7" + _digits(tag + "psid", 15),
        igsid="1" + _digits(tag + "ig", 16),
        line_user_id="U" + hashlib.md5(tag.encode()).hexdigest(),
        telegram_id=int("5" + _digits(tag + "tg", 9)),
        x_user_id="3" + _digits(tag + "x", 9),
        tier=rng.choices(("standard", "gold", "platinum"), weights=(7, 2, 1))[0],
    )


def _provider_id(route: Route, *, run_id: str, n: int) -> str:
    tag = f"{run_id}-{n:05d}"
    if route in (Route.SMTP, Route.SENDGRID, Route.MAILGUN):
        return f"<sim-{tag}@customer.example>"
    if route is Route.TWILIO_SMS:
        return "SM" + hashlib.md5(tag.encode()).hexdigest()
    if route is Route.WHATSAPP:
        return "wamid.HBgL" + hashlib.sha1(tag.encode()).hexdigest().upper()[:32] + "AA=="
    if route in (Route.MESSENGER, Route.INSTAGRAM):
        return "m_" + hashlib.sha1(tag.encode()).hexdigest()
    if route is Route.TELEGRAM:
        return str(1000 + n)
    if route is Route.WEBCHAT:
        return f"wc-{tag}"
    return _digits(tag, 18)  # LINE and X use long decimal ids


def ref_text(text: str, ref: str) -> str:
    """The customer's text with the reference the simulator finds its messages by."""
    return f"{text} (ref {ref})"


def generate(config: ScenarioConfig, *, seed: int, run_id: str) -> Plan:
    """Plan every customer action of a run. Pure: same (config, seed, run_id), same plan."""
    rng = random.Random(seed)
    routes = list(config.route_weights)
    weights = [config.route_weights[r] for r in routes]
    peak = config.rate * max(config.burst_factor, 1.0)
    steps: list[Step] = []
    threads: dict[str, ThreadPlan] = {}
    customers: list[Customer] = []
    counter = 0
    t = 0.0
    used_channels: dict[str, set[str]] = {}

    def next_n() -> int:
        nonlocal counter
        counter += 1
        return counter

    while peak > 0:
        t += rng.expovariate(peak)
        if t >= config.seconds:
            break
        if rng.random() > config.rate_at(t) / peak:
            continue
        # a returning customer picks a channel they have not used yet in this run, so each of
        # their threads is new to omni and the ground truth stays one conversation per thread
        returning = [c for c in customers if len(used_channels.get(c.key, ())) < 4]
        customer = rng.choice(returning) if returning and rng.random() < config.other_channel_probability else None
        choices = [r for r in routes if customer and CHANNEL_OF_ROUTE[r] not in used_channels[customer.key]]
        if customer is not None and choices:
            route = rng.choices(choices, weights=[config.route_weights[r] for r in choices])[0]
        else:
            language = "ja" if rng.random() < config.japanese_share else "en"
            customer = make_customer(rng, run_id=run_id, index=len(customers), language=language)
            customers.append(customer)
            route = rng.choices(routes, weights=weights)[0]
        language = customer.language if customer.language in LANGUAGES else "en"
        intent = rng.choice(list(Intent))
        text = pick_text(rng, language=language, intent=intent)
        thread = f"{run_id}-t{len(threads):04d}"
        n = next_n()
        ref = f"{run_id}-{n:05d}"
        first = Contact(
            ref=ref,
            thread=thread,
            route=route,
            customer=customer,
            language=language,
            intent=intent.value,
            subject=text.subject,
            text=ref_text(text.body, ref),
            provider_message_id=_provider_id(route, run_id=run_id, n=n),
            seq=n,
        )
        steps.append(SendStep(at=round(t, 3), contact=first))
        refs = [ref]
        abandons = route in LIVE_ROUTES and rng.random() < config.abandon_probability
        if abandons:
            steps.append(AbandonStep(at=round(t + rng.uniform(2.0, 8.0), 3), thread=thread))
        elif rng.random() < config.follow_up_probability:
            at = t + rng.uniform(1.0, 6.0)
            if at < config.seconds:
                n2 = next_n()
                ref2 = f"{run_id}-{n2:05d}"
                steps.append(
                    SendStep(
                        at=round(at, 3),
                        contact=Contact(
                            ref=ref2,
                            thread=thread,
                            route=route,
                            customer=customer,
                            language=language,
                            intent=intent.value,
                            subject="Re: " + text.subject,
                            text=ref_text(pick_follow_up(rng, language=language), ref2),
                            provider_message_id=_provider_id(route, run_id=run_id, n=n2),
                            seq=n2,
                            in_reply_to=first.provider_message_id,
                            references=(first.provider_message_id,),
                        ),
                    )
                )
                refs.append(ref2)
        csat = None
        if not abandons and rng.random() < config.csat_probability:
            csat = rng.choices((1, 2, 3, 4, 5), weights=(1, 1, 2, 4, 5))[0]
        threads[thread] = ThreadPlan(
            thread=thread,
            route=route,
            customer=customer,
            intent=intent,
            language=language,
            refs=tuple(refs),
            abandons=abandons,
            csat_score=csat,
        )
        used_channels.setdefault(customer.key, set()).add(CHANNEL_OF_ROUTE[route])
    steps.sort(key=lambda s: (s.at, s.contact.seq if isinstance(s, SendStep) else 0))
    return Plan(run_id=run_id, seed=seed, steps=tuple(steps), threads=threads, customers=tuple(customers))
