"""Classification rules from YAML: Japanese and English keywords, regex, tier, channel, default queue."""

from __future__ import annotations

from pathlib import Path

import pytest

from omni_router.domain.classification import Message, RoutingConfigError, parse_routing_config
from omni_router.domain.model import Strategy

ROOT = Path(__file__).resolve().parents[4]
CONFIG = parse_routing_config((ROOT / "config/routing.yaml").read_text(encoding="utf-8"), source="routing.yaml")


@pytest.mark.parametrize(
    ("message", "queue", "rule"),
    [
        (Message("line", "先月のご請求について確認したいです", language="ja"), "billing-ja", "japanese-billing"),
        (Message("email", "ｲﾝﾎﾞｲｽを再発行してください", language="ja-JP"), "billing-ja", "japanese-billing"),
        (Message("chat", "請求書が届きません", language="ja"), "billing-ja", "japanese-billing"),
        (Message("chat", "至急！ログインできない", language="ja"), "support-ja", "japanese-urgent"),
        (Message("chat", "こんにちは", language="ja"), "support-ja", "japanese-general"),
        (Message("email", "Please REFUND my order", language="en"), "billing", "english-billing"),
        (Message("email", "you charged me twice", language="en"), "billing", "english-billing"),
        (Message("chat", "hello there", tier="Gold"), "vip", "vip-customers"),
        (Message("telegram", "hi"), "social", "social-channels"),
        (Message("sms", "hi"), "general", None),
    ],
)
def test_default_config_classifies(message, queue, rule):
    result = CONFIG.classify(message)
    assert (result.queue, result.rule) == (queue, rule)


def test_japanese_rule_requires_language_and_sets_skills():
    result = CONFIG.classify(Message("line", "返金してほしい", language="ja-JP"))
    assert result.language == "ja"
    assert result.skills == {"billing": 5}
    assert result.optional_skills == {"keigo": 7}
    assert result.priority == 50


def test_keywords_match_in_subject_too():
    result = CONFIG.classify(Message("email", "see below", subject="Invoice 2026-11", language="en"))
    assert result.queue == "billing"


def test_queue_specs_are_read():
    spec = CONFIG.queues["billing-ja"]
    assert spec.strategy is Strategy.BEST_SKILL
    assert spec.offer_timeout_s == 30
    assert [s.after_s for s in spec.widening] == [60, 120, 240]
    assert spec.overflow_to == "overflow"
    assert spec.overflow_after_s == 600
    assert CONFIG.reopen_window_s == 72 * 3600


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("default_queue: q\nqueues:\n  q:\n    strategy: fastest\n", "routing.yaml:4: queues.q.strategy"),
        (
            "default_queue: q\nrules:\n  - name: r\n    queue: nowhere\n",
            "routing.yaml:4: rules[0].queue: unknown queue",
        ),
        (
            "default_queue: q\nrules:\n  - name: r\n    queue: q\n    skills: {billing: 11}\n",
            "routing.yaml:5: rules[0].skills.billing",
        ),
        (
            "default_queue: q\nrules:\n  - name: r\n    queue: q\n    match: {regex: ['(']}\n",
            "invalid regular expression",
        ),
        ("default_queue: q\nqueues:\n  q: {offer_timeout: soon}\n", "routing.yaml:3: queues.q.offer_timeout"),
        ("default_queue: q\nbogus: 1\n", "routing.yaml:2: <top>: unknown key 'bogus'"),
        ("queues: {}\n", "missing key 'default_queue'"),
        ("default_queue: [\n", "not valid YAML"),
        (
            "default_queue: q\nqueues:\n  q:\n    overflow: {after: 1m, to: elsewhere}\n",
            "routing.yaml:4: queues.q.overflow.to: unknown queue",
        ),
    ],
)
def test_invalid_config_names_the_line(text, fragment):
    with pytest.raises(RoutingConfigError) as excinfo:
        parse_routing_config(text, source="routing.yaml")
    assert fragment in str(excinfo.value)
