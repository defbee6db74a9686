from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from omni_sla.domain.policies import ConfigError, Metric, load_config

CONTRACT_SHAPE = """
calendars:
  tokyo-office:
    timezone: Asia/Tokyo
    hours: {mon: "09:00-18:00", tue: "09:00-18:00", wed: "09:00-18:00", thu: "09:00-18:00", fri: "09:00-18:00"}
    holidays: JP
    closed: ["2026-12-31"]
policies:
  - name: chat-standard
    match: {channel: [chat, sms, line]}
    calendar: null
    targets: {first_response: 60s, next_response: 2m, resolution: 8h}
    warn_at: 0.8
"""


def doc(**policy: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "p", "targets": {"first_response": "1m"}}
    return {"policies": [base | policy]}


def test_the_contract_shape_loads() -> None:
    config = load_config(yaml.safe_load(CONTRACT_SHAPE))
    policy = config.policies[0]
    assert policy.targets == {
        Metric.FIRST_RESPONSE: timedelta(seconds=60),
        Metric.NEXT_RESPONSE: timedelta(minutes=2),
        Metric.RESOLUTION: timedelta(hours=8),
    }
    assert policy.calendar is None
    assert policy.warn_after(Metric.FIRST_RESPONSE) == timedelta(seconds=48)
    assert config.calendars["tokyo-office"].holiday_country == "JP"


def test_the_shipped_config_loads_with_a_tokyo_calendar(repo_root: Path) -> None:
    config = load_config(yaml.safe_load((repo_root / "config" / "sla.yaml").read_text()))
    tokyo = config.calendars["tokyo-office"]
    assert tokyo.timezone == "Asia/Tokyo"
    assert tokyo.holiday_country == "JP"


def test_first_match_wins_and_says_why() -> None:
    config = load_config(
        {
            "policies": [
                {"name": "vip", "match": {"tier": "vip"}, "targets": {"first_response": "30s"}},
                {
                    "name": "urgent-chat",
                    "match": {"channel": ["chat"], "priority": {"min": 8}},
                    "targets": {"first_response": "45s"},
                },
                {"name": "billing", "match": {"queue": ["billing"]}, "targets": {"first_response": "5m"}},
                {"name": "fallback", "targets": {"first_response": "1h"}},
            ]
        }
    )

    def pick(**kw: Any) -> str:
        attrs = {"channel": None, "queue": None, "priority": None, "tier": None} | kw
        choice = config.match(**attrs)
        assert choice is not None
        return choice.policy.name

    assert pick(channel="chat", priority=9, tier="vip") == "vip"
    assert pick(channel="chat", priority=9) == "urgent-chat"
    assert pick(channel="chat", priority=3, queue="billing") == "billing"
    assert pick(channel="chat") == "fallback"
    assert pick(channel="email", queue="billing", priority=None) == "billing"
    choice = config.match(channel="chat", queue=None, priority=10, tier=None)
    assert choice is not None
    assert "urgent-chat" in choice.reason
    assert "priority 8..100" in choice.reason


def test_no_match_is_none() -> None:
    config = load_config(
        {"policies": [{"name": "chat", "match": {"channel": "chat"}, "targets": {"first_response": "1m"}}]}
    )
    assert config.match(channel="email", queue=None, priority=None, tier=None) is None


def test_warn_before_is_a_fixed_lead_time() -> None:
    config = load_config(doc(targets={"first_response": "1h", "resolution": "8h"}, warn_before="10m"))
    policy = config.policies[0]
    assert policy.warn_after(Metric.FIRST_RESPONSE) == timedelta(minutes=50)
    assert policy.warn_after(Metric.RESOLUTION) == timedelta(hours=7, minutes=50)


@pytest.mark.parametrize(
    ("document", "place"),
    [
        ("[]", ""),
        ("{policies: []}", "policies"),
        ("{policies: [{targets: {first_response: 1m}}]}", "policies[0].name"),
        ("{policies: [{name: a, targets: {first_response: soon}}]}", "policies[0].targets.first_response"),
        ("{policies: [{name: a, targets: {first_reply: 1m}}]}", "policies[0].targets.first_reply"),
        ("{policies: [{name: a, targets: {first_response: 0s}}]}", "policies[0].targets.first_response"),
        ("{policies: [{name: a, targets: {}}]}", "policies[0].targets"),
        ("{policies: [{name: a, warn_at: 1.5, targets: {first_response: 1m}}]}", "policies[0].warn_at"),
        ("{policies: [{name: a, warn_before: 2m, targets: {first_response: 1m}}]}", "policies[0].warn_before"),
        ("{policies: [{name: a, calendar: nowhere, targets: {first_response: 1m}}]}", "policies[0].calendar"),
        ("{policies: [{name: a, match: {colour: red}, targets: {first_response: 1m}}]}", "policies[0].match.colour"),
        (
            "{policies: [{name: a, match: {priority: {min: 9, max: 2}}, targets: {first_response: 1m}}]}",
            "policies[0].match.priority",
        ),
        (
            "{policies: [{name: a, match: {priority: [1, 5]}, targets: {first_response: 1m}}]}",
            "policies[0].match.priority",
        ),
        ("{policies: [{name: a, match: {channel: []}, targets: {first_response: 1m}}]}", "policies[0].match.channel"),
        (
            "{policies: [{name: a, targets: {first_response: 1m}}, {name: a, targets: {first_response: 1m}}]}",
            "policies[1].name",
        ),
        ("{policies: [{name: a, colour: red, targets: {first_response: 1m}}]}", "policies[0].colour"),
        (
            "{calendars: {x: {hours: {mon: 09:00-18:00}}}, policies: [{name: a, targets: {first_response: 1m}}]}",
            "calendars.x.timezone",
        ),
        ("{calendars: {x: {timezone: Mars/Base, hours: {mon: '09:00-18:00'}}}, policies: []}", "calendars.x.timezone"),
        ("{calendars: {x: {timezone: UTC, hours: {funday: '09:00-18:00'}}}, policies: []}", "calendars.x.hours.funday"),
        ("{calendars: {x: {timezone: UTC, hours: {mon: '9 to 5'}}}, policies: []}", "calendars.x.hours.mon"),
        (
            "{calendars: {x: {timezone: UTC, hours: {mon: '09:00-18:00'}, holidays: ZZ}}, policies: []}",
            "calendars.x.holidays",
        ),
        (
            "{calendars: {x: {timezone: UTC, hours: {mon: '09:00-18:00'}, closed: [tomorrow]}}, policies: []}",
            "calendars.x.closed[0]",
        ),
        ("{calendars: {x: {timezone: UTC, hours: {}}}, policies: []}", "calendars.x.hours"),
        ("{rules: []}", "rules"),
    ],
)
def test_config_errors_name_the_place(document: str, place: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(yaml.safe_load(document))
    assert caught.value.place == place
    assert str(caught.value).startswith(f"{place}: " if place else "")
