"""Classification: which queue, skills and priority a new conversation gets (first rule wins).

Rules come from `config/routing.yaml`; `parse_routing_config` validates the text and names
the line of any mistake. Keywords match after Unicode NFKC normalization and case folding,
so full-width and half-width forms of Japanese and Latin text match alike.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from omni_router.domain.model import QueueSpec, Strategy, WideningStep, primary_language

CHANNELS = frozenset({"email", "chat", "sms", "messenger", "instagram", "whatsapp", "line", "x", "telegram"})
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class RoutingConfigError(ValueError):
    """The routing file is invalid; the message names the file, the line and the key."""


def normalize_text(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


@dataclass(frozen=True, slots=True)
class Message:
    """The facts of a first message that classification looks at."""

    channel: str
    text: str
    subject: str | None = None
    language: str | None = None
    tier: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    queue: str
    channels: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    tiers: frozenset[str] = frozenset()
    keywords: tuple[str, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()
    skills: Mapping[str, int] = field(default_factory=dict)
    optional_skills: Mapping[str, int] = field(default_factory=dict)
    priority: int = 0
    require_language: bool = False

    def matches(self, message: Message, normalized: str) -> bool:
        if self.channels and message.channel not in self.channels:
            return False
        if self.languages and primary_language(message.language) not in self.languages:
            return False
        if self.tiers and (message.tier or "").casefold() not in self.tiers:
            return False
        if self.keywords or self.patterns:
            return any(k in normalized for k in self.keywords) or any(p.search(normalized) for p in self.patterns)
        return True


@dataclass(frozen=True, slots=True)
class Classification:
    """The outcome: a queue, what an agent needs, and the rule that decided (None = default)."""

    queue: str
    skills: Mapping[str, int]
    optional_skills: Mapping[str, int]
    priority: int
    language: str | None
    rule: str | None


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    default_queue: str
    queues: Mapping[str, QueueSpec]
    rules: tuple[Rule, ...]
    reopen_window_s: float = 72 * 3600.0
    sla_warning_priority_boost: int = 0
    default_priority: int = 0

    def classify(self, message: Message) -> Classification:
        normalized = normalize_text(" ".join(x for x in (message.subject, message.text) if x))
        for rule in self.rules:
            if rule.matches(message, normalized):
                language = primary_language(message.language) if rule.require_language else None
                return Classification(
                    rule.queue, dict(rule.skills), dict(rule.optional_skills), rule.priority, language, rule.name
                )
        return Classification(self.default_queue, {}, {}, self.default_priority, None, None)


# --- parsing with line numbers ------------------------------------------------------


class _Node:
    """A YAML value and the line it started on (1-based)."""

    __slots__ = ("line", "value")

    def __init__(self, value: Any, line: int) -> None:
        self.value = value
        self.line = line


def _plain(node: yaml.Node) -> _Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        return _Node({str(k.value): _plain(v) for k, v in node.value}, line)
    if isinstance(node, yaml.SequenceNode):
        return _Node([_plain(v) for v in node.value], line)
    return _Node(yaml.SafeLoader("").construct_object(node, deep=True), line)


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, node: _Node, where: str, message: str) -> RoutingConfigError:
        return RoutingConfigError(f"{self.source}:{node.line}: {where}: {message}")

    def mapping(self, node: _Node, where: str) -> dict[str, _Node]:
        if not isinstance(node.value, dict):
            raise self.fail(node, where, f"expected a mapping, got {_kind(node.value)}")
        return node.value

    def strings(self, node: _Node, where: str) -> list[str]:
        if isinstance(node.value, str):
            return [node.value]
        if not isinstance(node.value, list) or not all(isinstance(v.value, str) for v in node.value):
            raise self.fail(node, where, "expected a string or a list of strings")
        return [v.value for v in node.value]

    def duration(self, node: _Node, where: str) -> float:
        value = node.value
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        else:
            match = _DURATION.match(str(value)) if isinstance(value, str) else None
            if match is None:
                raise self.fail(node, where, f"expected a duration like 30s, 5m, 2h; got {value!r}")
            seconds = float(match.group(1)) * _UNITS[match.group(2)]
        if seconds < 0:
            raise self.fail(node, where, "a duration cannot be negative")
        return seconds

    def integer(self, node: _Node, where: str, low: int, high: int) -> int:
        value = node.value
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise self.fail(node, where, f"expected an integer from {low} to {high}, got {value!r}")
        return value

    def skills(self, node: _Node, where: str) -> dict[str, int]:
        return {
            name: self.integer(level, f"{where}.{name}", 1, 10) for name, level in self.mapping(node, where).items()
        }

    def unknown(self, items: dict[str, _Node], allowed: set[str], where: str) -> None:
        for key, node in items.items():
            if key not in allowed:
                raise self.fail(node, where, f"unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", type(None): "nothing"}.get(type(value), type(value).__name__)


def parse_routing_config(text: str, *, source: str = "routing.yaml") -> RoutingConfig:
    """Validate and build the routing configuration; errors name `source:line`."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise RoutingConfigError(f"{source}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if root is None:
        raise RoutingConfigError(f"{source}:1: the file is empty")
    r = _Reader(source)
    top = r.mapping(_plain(root), "<top>")
    r.unknown(
        top,
        {"default_queue", "queues", "rules", "reopen_window", "sla_warning_priority_boost", "default_priority"},
        "<top>",
    )
    if "default_queue" not in top:
        raise RoutingConfigError(f"{source}:1: <top>: missing key 'default_queue'")
    default_queue = top["default_queue"].value
    if not isinstance(default_queue, str) or not default_queue:
        raise r.fail(top["default_queue"], "default_queue", "expected a queue name")
    queues = _queues(r, top.get("queues"))
    if default_queue not in queues:
        queues[default_queue] = QueueSpec(default_queue)
    for name, spec in queues.items():
        if spec.overflow_to is not None and spec.overflow_to not in queues:
            node = top["queues"].value[name]
            raise r.fail(node, f"queues.{name}.overflow.to", f"unknown queue {spec.overflow_to!r}")
    rules = _rules(r, top.get("rules"), queues)
    return RoutingConfig(
        default_queue=default_queue,
        queues=queues,
        rules=tuple(rules),
        reopen_window_s=r.duration(top["reopen_window"], "reopen_window") if "reopen_window" in top else 72 * 3600.0,
        sla_warning_priority_boost=(
            r.integer(top["sla_warning_priority_boost"], "sla_warning_priority_boost", 0, 100)
            if "sla_warning_priority_boost" in top
            else 0
        ),
        default_priority=r.integer(top["default_priority"], "default_priority", 0, 100)
        if "default_priority" in top
        else 0,
    )


def _queues(r: _Reader, node: _Node | None) -> dict[str, QueueSpec]:
    if node is None:
        return {}
    out: dict[str, QueueSpec] = {}
    for name, qnode in r.mapping(node, "queues").items():
        where = f"queues.{name}"
        q = r.mapping(qnode, where) if qnode.value is not None else {}
        r.unknown(q, {"strategy", "offer_timeout", "widening", "overflow", "skills", "sticky_grace"}, where)
        strategy = Strategy.LONGEST_IDLE
        if "strategy" in q:
            try:
                strategy = Strategy(q["strategy"].value)
            except ValueError:
                allowed = ", ".join(s.value for s in Strategy)
                raise r.fail(q["strategy"], f"{where}.strategy", f"expected one of {allowed}") from None
        steps: list[WideningStep] = []
        if "widening" in q:
            if not isinstance(q["widening"].value, list):
                raise r.fail(q["widening"], f"{where}.widening", "expected a list of steps")
            previous = -1.0
            for i, snode in enumerate(q["widening"].value):
                swhere = f"{where}.widening[{i}]"
                s = r.mapping(snode, swhere)
                r.unknown(s, {"after", "drop_optional", "lower_levels_by"}, swhere)
                if "after" not in s:
                    raise r.fail(snode, swhere, "missing key 'after'")
                after = r.duration(s["after"], f"{swhere}.after")
                if after <= previous:
                    raise r.fail(s["after"], f"{swhere}.after", "steps must come in increasing order of 'after'")
                previous = after
                drop = s["drop_optional"].value if "drop_optional" in s else False
                if not isinstance(drop, bool):
                    raise r.fail(s["drop_optional"], f"{swhere}.drop_optional", "expected true or false")
                lower = (
                    r.integer(s["lower_levels_by"], f"{swhere}.lower_levels_by", 0, 9) if "lower_levels_by" in s else 0
                )
                steps.append(WideningStep(after, drop, lower))
        overflow_after: float | None = None
        overflow_to: str | None = None
        if "overflow" in q:
            o = r.mapping(q["overflow"], f"{where}.overflow")
            r.unknown(o, {"after", "to"}, f"{where}.overflow")
            if "after" not in o or "to" not in o:
                raise r.fail(q["overflow"], f"{where}.overflow", "needs both 'after' and 'to'")
            overflow_after = r.duration(o["after"], f"{where}.overflow.after")
            overflow_to = str(o["to"].value)
            if overflow_to == name:
                raise r.fail(o["to"], f"{where}.overflow.to", "a queue cannot overflow into itself")
        out[name] = QueueSpec(
            name=name,
            strategy=strategy,
            offer_timeout_s=r.duration(q["offer_timeout"], f"{where}.offer_timeout") if "offer_timeout" in q else 0.0,
            widening=tuple(steps),
            overflow_after_s=overflow_after,
            overflow_to=overflow_to,
            skills=r.skills(q["skills"], f"{where}.skills") if "skills" in q else {},
            sticky_grace_s=r.duration(q["sticky_grace"], f"{where}.sticky_grace") if "sticky_grace" in q else 0.0,
        )
    return out


def _rules(r: _Reader, node: _Node | None, queues: Mapping[str, QueueSpec]) -> list[Rule]:
    if node is None:
        return []
    if not isinstance(node.value, list):
        raise r.fail(node, "rules", "expected a list of rules")
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, rnode in enumerate(node.value):
        where = f"rules[{i}]"
        rule = r.mapping(rnode, where)
        r.unknown(rule, {"name", "match", "queue", "skills", "optional_skills", "priority", "require_language"}, where)
        for key in ("name", "queue"):
            if key not in rule or not isinstance(rule[key].value, str) or not rule[key].value:
                raise r.fail(rnode, where, f"missing or empty key {key!r}")
        name = rule["name"].value
        if name in seen:
            raise r.fail(rule["name"], f"{where}.name", f"duplicate rule name {name!r}")
        seen.add(name)
        queue = rule["queue"].value
        if queue not in queues:
            raise r.fail(rule["queue"], f"{where}.queue", f"unknown queue {queue!r} (define it under 'queues')")
        match = r.mapping(rule["match"], f"{where}.match") if "match" in rule and rule["match"].value else {}
        r.unknown(match, {"channel", "language", "tier", "keywords", "regex"}, f"{where}.match")
        channels = (
            frozenset(r.strings(match["channel"], f"{where}.match.channel")) if "channel" in match else frozenset()
        )
        for channel in channels:
            if channel not in CHANNELS:
                raise r.fail(match["channel"], f"{where}.match.channel", f"unknown channel {channel!r}")
        patterns: list[re.Pattern[str]] = []
        for text in r.strings(match["regex"], f"{where}.match.regex") if "regex" in match else []:
            try:
                patterns.append(re.compile(normalize_text(text)))
            except re.error as exc:
                raise r.fail(
                    match["regex"], f"{where}.match.regex", f"invalid regular expression {text!r}: {exc}"
                ) from None
        require = rule["require_language"].value if "require_language" in rule else False
        if not isinstance(require, bool):
            raise r.fail(rule["require_language"], f"{where}.require_language", "expected true or false")
        languages = r.strings(match["language"], f"{where}.match.language") if "language" in match else []
        rules.append(
            Rule(
                name=name,
                queue=queue,
                channels=channels,
                languages=frozenset(p for p in (primary_language(x) for x in languages) if p),
                tiers=frozenset(t.casefold() for t in r.strings(match["tier"], f"{where}.match.tier"))
                if "tier" in match
                else frozenset(),
                keywords=tuple(normalize_text(k) for k in r.strings(match["keywords"], f"{where}.match.keywords"))
                if "keywords" in match
                else (),
                patterns=tuple(patterns),
                skills=r.skills(rule["skills"], f"{where}.skills") if "skills" in rule else {},
                optional_skills=r.skills(rule["optional_skills"], f"{where}.optional_skills")
                if "optional_skills" in rule
                else {},
                priority=r.integer(rule["priority"], f"{where}.priority", 0, 100) if "priority" in rule else 0,
                require_language=require,
            )
        )
    return rules
