"""Simulated agents: who they are (skills, languages, capacity), when they step away, how they work."""

from __future__ import annotations

import random
from dataclasses import dataclass

from omni_sim.domain.texts import Intent

_NAMES = ("Aiko", "Ben", "Chen", "Dana", "Emi", "Femi", "Goro", "Hana", "Ines", "Jun", "Kenta", "Lena")
_REPLIES = {
    "en": "Thank you for contacting us. I have looked into this and it is now fixed on our side.",
    "ja": "お問い合わせありがとうございます。確認いたしましたので、こちらで対応を完了しました。",
}


@dataclass(frozen=True, slots=True)
class AgentProfile:
    agent_id: str
    display_name: str
    skills: dict[str, int]
    languages: tuple[str, ...]
    capacity: dict[str, int]
    accept_probability: float
    handle_s: tuple[float, float]
    away: tuple[tuple[float, float], ...]
    """Windows (seconds from the start) when the agent steps away."""

    def api_body(self) -> dict[str, object]:
        """The body of `PUT /v1/agents/{agent_id}`."""
        return {
            "display_name": self.display_name,
            "skills": dict(self.skills),
            "languages": list(self.languages),
            "capacity": dict(self.capacity),
        }

    def is_away(self, t: float) -> bool:
        return any(start <= t < end for start, end in self.away)


def make_roster(
    seed: int, *, count: int = 8, seconds: float = 60.0, handle_s: tuple[float, float] = (2.0, 8.0)
) -> list[AgentProfile]:
    """A team covering every intent in both languages; ids are stable so runs reuse them."""
    rng = random.Random(f"agents:{seed}")
    intents = list(Intent)
    roster = []
    for i in range(count):
        # every intent gets a strong agent in each language among the first 2 * len(intents) agents
        primary = intents[i % len(intents)]
        # every agent can take every queue of config/routing.yaml (billing >= 5, technical >= 4,
        # social_media >= 2); levels differ, so best_skill routing has a real choice
        skills = {intent.value: rng.randint(5, 7) for intent in intents}
        skills[primary.value] = rng.randint(8, 10)
        skills["social_media"] = rng.randint(3, 9)
        languages: tuple[str, ...] = ("ja", "en") if i % 3 == 0 else (("ja",) if i % 2 else ("en",))
        if "ja" in languages:
            skills["keigo"] = rng.randint(6, 9)
        if i % 4 == 0:
            skills["vip_care"] = rng.randint(5, 8)
        away: list[tuple[float, float]] = []
        if seconds >= 30 and i % 4 == 3:
            start = rng.uniform(0.15, 0.3) * seconds
            away.append((round(start, 2), round(start + rng.uniform(4.0, 8.0), 2)))
        if seconds >= 30:
            # an all-hands meeting: the whole team steps away at once, so queues build up,
            # customers wait (and some give up), and the team catches up afterwards
            start = 0.5 * seconds + rng.uniform(0.0, 1.0)
            away.append((round(start, 2), round(0.5 * seconds + max(8.0, 0.15 * seconds), 2)))
        roster.append(
            AgentProfile(
                agent_id=f"sim-agent-{i + 1:02d}",
                display_name=f"{_NAMES[i % len(_NAMES)]} (sim)",
                skills=skills,
                languages=languages,
                capacity={"email": 4, "chat": 2, "sms": 2, "social": 3},
                accept_probability=0.9,
                handle_s=handle_s,
                away=tuple(away),
            )
        )
    return roster


def reply_text(language: str | None) -> str:
    return _REPLIES.get(language or "en", _REPLIES["en"])
