"""Golden example `data` of every event type: validated in tests, used by consumers' tests."""

from __future__ import annotations

from typing import Any

_CONV = "0b7f8a52-3c1e-4d2a-9d7e-1f2a3b4c5d6e"
_MSG = "5d0c2a7e-9f31-4b8c-a1d2-3e4f5a6b7c8d"
_T = "2026-11-20T01:02:03.456Z"
_DUE = "2026-11-20T01:03:03.456Z"
_REASON = {
    "summary": "best_skill: level 8 in billing_ja (needs 5), speaks ja, 1 of 3 chat slots in use",
    "strategy": "best_skill",
    "rule": "japanese-billing",
    "skills": {"billing_ja": 5},
    "agent_skills": {"billing_ja": 8},
    "widening_step": 0,
    "sticky": False,
    "candidates": 4,
}
_CONV_BASE: dict[str, Any] = {"conversation_id": _CONV, "channel": "line", "queue": "billing-ja", "priority": 5}

EXAMPLES: dict[str, dict[str, Any]] = {
    "omni.message.received.v1": {
        "message_id": _MSG,
        "channel": "line",
        "provider": "line",
        "provider_message_id": "325708",
        "thread_key": "line:U206d25c2ea6bd87c17655609a1c37cb8",
        "customer": {"address": "U206d25c2ea6bd87c17655609a1c37cb8", "display_name": "山田 花子"},
        "subject": None,
        "text": "請求書の金額が間違っているようです。確認していただけますか？",
        "attachments": [],
        "language": "ja",
        "sent_at": "2026-11-20T01:02:00Z",
        "received_at": _T,
    },
    "omni.conversation.opened.v1": {
        **_CONV_BASE,
        "thread_key": "line:U206d25c2ea6bd87c17655609a1c37cb8",
        "customer_id": "cus_7f3a",
        "first_message_id": _MSG,
        "language": "ja",
    },
    "omni.conversation.customer_replied.v1": {**_CONV_BASE, "message_id": _MSG},
    "omni.conversation.queued.v1": {**_CONV_BASE, "required_skills": {"billing_ja": 5}, "rule": "japanese-billing"},
    "omni.conversation.offered.v1": {
        **_CONV_BASE,
        "agent_id": "agent-tanaka",
        "offer_expires_at": _DUE,
        "reason": _REASON,
    },
    "omni.conversation.offer_declined.v1": {**_CONV_BASE, "agent_id": "agent-tanaka"},
    "omni.conversation.offer_expired.v1": {**_CONV_BASE, "agent_id": "agent-tanaka"},
    "omni.conversation.assigned.v1": {
        **_CONV_BASE,
        "agent_id": "agent-tanaka",
        "reason": _REASON,
        "required_skills": {"billing_ja": 5},
        "waited_seconds": 12.5,
    },
    "omni.conversation.agent_replied.v1": {
        **_CONV_BASE,
        "agent_id": "agent-tanaka",
        "text": "ご連絡ありがとうございます。確認いたします。",
    },
    "omni.conversation.transferred.v1": {**_CONV_BASE, "from_agent_id": "agent-tanaka", "to_queue": "billing-l2"},
    "omni.conversation.resolved.v1": {**_CONV_BASE, "agent_id": "agent-tanaka"},
    "omni.conversation.reopened.v1": {**_CONV_BASE, "message_id": _MSG},
    "omni.conversation.abandoned.v1": {**_CONV_BASE, "waited_seconds": 95.0},
    "omni.conversation.csat_submitted.v1": {
        **_CONV_BASE,
        "agent_id": "agent-tanaka",
        "score": 5,
        "comment": "迅速な対応ありがとうございました",
    },
    "omni.agent.updated.v1": {
        "agent_id": "agent-tanaka",
        "display_name": "田中 一郎",
        "skills": {"billing_ja": 8, "general": 5},
        "languages": ["ja", "en"],
        "capacity": {"email": 5, "chat": 3, "sms": 3, "social": 3},
    },
    "omni.agent.presence_changed.v1": {"agent_id": "agent-tanaka", "status": "available", "previous_status": "away"},
    "omni.sla.warning.v1": {
        "conversation_id": _CONV,
        "policy": "chat-standard",
        "metric": "first_response",
        "due_at": _DUE,
        "cycle": 1,
        "channel": "line",
        "queue": "billing-ja",
        "remaining_seconds": 12.0,
    },
    "omni.sla.breached.v1": {
        "conversation_id": _CONV,
        "policy": "chat-standard",
        "metric": "first_response",
        "due_at": _DUE,
        "cycle": 1,
        "channel": "line",
        "breached_at": _DUE,
    },
    "omni.sla.met.v1": {
        "conversation_id": _CONV,
        "policy": "chat-standard",
        "metric": "first_response",
        "due_at": _DUE,
        "cycle": 1,
        "channel": "line",
        "met_at": _T,
        "remaining_seconds": 60.0,
    },
    "omni.deadletter.v1": {
        "source_topic": "omni.messages.v1",
        "source_partition": 2,
        "source_offset": 1041,
        "consumer": "router",
        "key": "line:U1",
        "payload_base64": "bm90IGpzb24=",
        "payload_size": 8,
        "reason": "event is not JSON: unexpected character",
        "failed_at": _T,
    },
}
