"""The simulator's ground truth: what it sent and what omni answered, and what should follow."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

REF_PATTERN = re.compile(r"\(ref ([0-9a-z]+-\d{5})\)")


def find_ref(text: str | None) -> str | None:
    match = REF_PATTERN.search(text or "")
    return match.group(1) if match else None


@dataclass(slots=True)
class GroundTruth:
    """Append-only record of one run; every field is a fact the simulator observed itself."""

    run_id: str
    sent: dict[str, int] = field(default_factory=dict)
    """ref -> final HTTP status (250 for an SMTP accept, 0 when nothing answered)."""
    accepted_at: dict[str, float] = field(default_factory=dict)
    attempts: int = 0
    thread_of: dict[str, str] = field(default_factory=dict)
    channel_of_thread: dict[str, str] = field(default_factory=dict)
    abandoned: set[str] = field(default_factory=set)
    abandon_refused: set[str] = field(default_factory=set)
    resolved: set[str] = field(default_factory=set)
    """Conversation ids the simulator's agents resolved (2xx)."""
    csat: dict[str, int] = field(default_factory=dict)
    accepted_offers: int = 0
    declined_offers: int = 0
    replies: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def record_send(self, ref: str, *, thread: str, channel: str, status: int, at: float) -> None:
        self.attempts += 1
        self.sent[ref] = status
        self.thread_of[ref] = thread
        self.channel_of_thread[thread] = channel
        if 200 <= status < 300:
            self.accepted_at[ref] = at

    @property
    def accepted(self) -> set[str]:
        return {ref for ref, status in self.sent.items() if 200 <= status < 300}

    @property
    def threads_accepted(self) -> set[str]:
        return {self.thread_of[ref] for ref in self.accepted}

    def expected(self) -> dict[str, float]:
        """The totals omni should report for this run."""
        scores = list(self.csat.values())
        return {
            "messages": len(self.accepted),
            "conversations": len(self.threads_accepted),
            "resolved": len(self.resolved),
            "abandoned": len(self.abandoned),
            "csat_count": len(scores),
            "csat_average": (sum(scores) / len(scores)) if scores else float("nan"),
        }
