"""A scripted scenario with hand-computed KPIs: the reference for unit and integration tests and demos.

Times are seconds after `start`; the KPIs are read at `start + 1800` with a one-hour window,
so every outcome is inside the window. Thresholds: billing 3600 s, every other queue 60 s.
"""

from __future__ import annotations

from datetime import datetime

from omni_analytics.domain import KpiConfig
from omni_analytics.simulate import Script

CONFIG = KpiConfig(window_s=3600, service_level_s={"billing": 3600}, default_service_level_s=60)
READ_AT = 1800.0


def build(start: datetime) -> Script:
    s = Script(start)
    s.agent("a1", 0, capacity={"chat": 2, "email": 1})
    s.presence("a1", "available", 0)
    s.agent("a2", 0, capacity={"chat": 2})
    s.presence("a2", "busy", 0)
    s.agent("a3", 0, capacity={"sms": 5})
    s.presence("a3", "available", 0)
    s.presence("a3", "offline", 10)
    s.presence("a4", "away", 0)
    # c1 chat: answered in 30 s, first reply at 45 s, resolved at 300 s on first contact, CSAT 5
    s.conv("opened", "c1", "chat", 100)
    s.conv("queued", "c1", "chat", 100, queue="general")
    s.conv("assigned", "c1", "chat", 130, agent_id="a1", queue="general")
    s.sla("met", "c1", "first_response", 145)
    s.conv("agent_replied", "c1", "chat", 145, agent_id="a1")
    s.conv("resolved", "c1", "chat", 400, agent_id="a1")
    s.conv("csat_submitted", "c1", "chat", 410, score=5)
    # c2 chat: abandoned after 90 s in the queue
    s.conv("opened", "c2", "chat", 200)
    s.conv("queued", "c2", "chat", 200, queue="general")
    s.conv("abandoned", "c2", "chat", 290)
    # c3 email: billing (3600 s threshold) answers at 1000 s, transfer to tech, answered again after 100 s
    s.conv("opened", "c3", "email", 300)
    s.conv("queued", "c3", "email", 300, queue="billing")
    s.sla("breached", "c3", "first_response", 400, channel="email")
    s.conv("assigned", "c3", "email", 1300, agent_id="a1", queue="billing")
    s.conv("agent_replied", "c3", "email", 1310, agent_id="a1")
    s.conv("transferred", "c3", "email", 1400, from_agent_id="a1", to_queue="tech")
    s.conv("assigned", "c3", "email", 1500, agent_id="a2", queue="tech")
    s.conv("resolved", "c3", "email", 1600, agent_id="a2")
    s.conv("csat_submitted", "c3", "email", 1610, score=3)
    s.conv("csat_submitted", "c3", "email", 1620, score=4)
    # c4 chat: still waiting since 1500 s
    s.conv("opened", "c4", "chat", 1500)
    s.conv("queued", "c4", "chat", 1500, queue="general")
    # c5 chat: assigned to a1 after 10 s, still open
    s.conv("opened", "c5", "chat", 1550)
    s.conv("queued", "c5", "chat", 1550, queue="general")
    s.conv("assigned", "c5", "chat", 1560, agent_id="a1", queue="general")
    s.conv("agent_replied", "c5", "chat", 1570, agent_id="a1")
    # c6 sms: resolved at 1100 s, reopened (no longer first-contact), answered again, resolved
    s.conv("opened", "c6", "sms", 1000)
    s.conv("queued", "c6", "sms", 1000, queue="general")
    s.conv("assigned", "c6", "sms", 1010, agent_id="a3", queue="general")
    s.conv("resolved", "c6", "sms", 1100, agent_id="a3")
    s.conv("reopened", "c6", "sms", 1200)
    s.conv("queued", "c6", "sms", 1200, queue="general")
    s.conv("assigned", "c6", "sms", 1250, agent_id="a2", queue="general")
    s.conv("resolved", "c6", "sms", 1300, agent_id="a2")
    # c7 sms: waiting in vip since 1700 s
    s.conv("opened", "c7", "sms", 1700)
    s.conv("queued", "c7", "sms", 1700, queue="vip")
    # an SLA breach of a conversation this process never saw, without a channel
    s.sla("breached", "ghost", "resolution", 1400)
    return s


EXPECTED_COUNTERS = {
    "opened": {"chat": 4, "email": 1, "sms": 2},
    "assigned": {"chat": 2, "email": 2, "sms": 2},
    "resolved": {"chat": 1, "email": 1, "sms": 2},
    "abandoned": {"chat": 1},
}
EXPECTED_SLA_BREACHES = {("first_response", "email"): 1, ("resolution", "unknown"): 1}
EXPECTED_SLA_MET = {("first_response", "chat"): 1}
EXPECTED_DEPTH = {
    ("general", "chat"): 1,
    ("vip", "sms"): 1,
    ("billing", "email"): 0,
    ("tech", "email"): 0,
    ("general", "sms"): 0,
}
EXPECTED_OLDEST = {("general", "chat"): 300.0, ("vip", "sms"): 100.0}
EXPECTED_AGENTS = {"available": 1, "busy": 1, "away": 1, "offline": 1}
EXPECTED_OCCUPANCY = 1 / 5  # a1 holds c5; logged-in capacity a1 3 + a2 2 + a4 0
EXPECTED_SERVICE_LEVEL = {"chat": 2 / 3, "email": 1 / 2, "sms": 1.0}
EXPECTED_ABANDONMENT = {"chat": 1 / 3, "email": 0.0, "sms": 0.0}
EXPECTED_FCR = {"chat": 1.0, "email": 0.0, "sms": 0.0}
EXPECTED_CSAT = {"chat": 5.0, "email": 4.0}
EXPECTED_SLA_BREACH_RATIO = {
    ("first_response", "chat"): 0.0,
    ("first_response", "email"): 1.0,
    ("resolution", "unknown"): 1.0,
}
EXPECTED_HISTOGRAMS = {  # name -> channel -> observed values
    "time_to_assign": {"chat": [30, 10], "email": [1000, 100], "sms": [10, 50]},
    "first_response": {"chat": [45, 20], "email": [1010]},
    "handle": {"chat": [270], "email": [300], "sms": [90, 50]},
    "resolution": {"chat": [300], "email": [1300], "sms": [100, 100]},
}
