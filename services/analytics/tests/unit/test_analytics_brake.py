"""The dead-letter brake of the fold loop."""

from __future__ import annotations

from omni_analytics.handlers import DeadLetterBrake


def test_brake_trips_when_most_recent_messages_are_poison() -> None:
    brake = DeadLetterBrake(window=100, ratio=0.8)
    for _ in range(49):
        brake.record(failed=True)
    assert not brake.tripped()  # too few messages to judge
    brake.record(failed=True)
    assert brake.tripped()


def test_brake_holds_when_poison_is_occasional_and_counts_only_the_window() -> None:
    brake = DeadLetterBrake(window=100, ratio=0.8)
    for i in range(1000):
        brake.record(failed=i % 4 == 0)  # 25 % poison
    assert not brake.tripped()
    for _ in range(73):
        brake.record(failed=True)
    assert not brake.tripped()  # window: 27 old (6 failed: 976, 980, ..., 996) + 73 failed = 79 of 100
    brake.record(failed=True)
    assert brake.tripped()  # 26 old (6 failed) + 74 failed = 80 of 100
