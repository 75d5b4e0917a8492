"""Idle lock and session cap with an injected clock (no real 15-minute waits)."""

from __future__ import annotations

import time

import pytest

from workstation.security.idle_lock import (
    DEFAULT_IDLE_MINUTES,
    TICK_MS,
    IdleLock,
    SuspendAwareClock,
    validate_idle_minutes,
)
from workstation.security.session_cap import SessionCap


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_default_is_15_minutes_and_more_than_30_is_refused() -> None:
    assert DEFAULT_IDLE_MINUTES == 15
    assert IdleLock(clock=FakeClock()).limit_seconds == 15 * 60
    for bad in (0, 0.5, 31, 45):
        with pytest.raises(ValueError, match="between 1 and 30"):
            validate_idle_minutes(bad)
        with pytest.raises(ValueError):
            IdleLock(bad, clock=FakeClock())


@pytest.mark.parametrize("minutes", [1, 15, 30])
def test_lock_fires_within_one_second_of_the_configured_idle_time(qtbot, minutes: int) -> None:
    clock = FakeClock()
    idle = IdleLock(minutes, clock=clock)
    fired: list[str] = []
    idle.lock_requested.connect(fired.append)
    idle.start()
    try:
        clock.advance(minutes * 60 - 1.0)
        qtbot.wait(2 * TICK_MS)  # the real QTimer ticks; nothing yet at T-1 s
        assert fired == []
        clock.advance(1.0)  # exactly T
        # the real timer must notice within one tick, far inside the 1 s allowed
        with qtbot.waitSignal(idle.lock_requested, timeout=1000):
            pass
        assert fired == ["idle"]
        clock.advance(3600)
        qtbot.wait(2 * TICK_MS)
        assert fired == ["idle"], "fires once per idle period"
    finally:
        idle.stop()


def test_activity_restarts_the_idle_period_and_lock_screen_typing_does_not() -> None:
    clock = FakeClock()
    idle = IdleLock(15, clock=clock)
    fired: list[str] = []
    idle.lock_requested.connect(fired.append)
    clock.advance(14 * 60)
    idle.activity()
    clock.advance(14 * 60)
    assert not idle.check()
    clock.advance(60)
    assert idle.check() and fired == ["idle"] and idle.locked
    idle.activity()  # keystrokes on the lock screen
    clock.advance(10)
    assert idle.locked
    idle.reset()  # successful unlock
    assert not idle.locked and not idle.check()


def test_lock_now_fires_immediately_once() -> None:
    idle = IdleLock(clock=FakeClock())
    fired: list[str] = []
    idle.lock_requested.connect(fired.append)
    idle.lock_now()
    idle.lock_now()
    assert fired == ["manual"]


def test_session_cap_is_12_hours_and_locks_on_the_same_tick() -> None:
    clock = FakeClock()
    cap = SessionCap(clock=clock)
    idle = IdleLock(30, clock=clock, session_cap=cap)
    fired: list[str] = []
    idle.lock_requested.connect(fired.append)
    for _ in range(12 * 4 - 1):  # an officer busy for 11 h 45 min: never idle
        clock.advance(15 * 60)
        idle.activity()
        assert not idle.check()
    assert cap.remaining_seconds() == 15 * 60
    clock.advance(15 * 60)
    idle.activity()
    assert idle.check() and fired == ["session_cap"]
    cap.authenticated()
    idle.reset()
    assert cap.remaining_seconds() == 12 * 3600 and not idle.check()
    with pytest.raises(ValueError):
        SessionCap(13, clock=clock)


def test_suspend_aware_clock_counts_sleep_and_ignores_wall_clock_set_back() -> None:
    boot, wall = FakeClock(), FakeClock()
    clock = SuspendAwareClock(boot=boot, wall=wall)
    boot.advance(5)
    wall.advance(5)
    assert clock() == 5
    wall.advance(7200)  # suspended two hours: a monotonic clock that stops in sleep misses this
    assert clock() == 7205
    wall.advance(-86_400)  # user sets the clock back a day: no time is given back
    boot.advance(1)
    assert clock() == 7206
    real = SuspendAwareClock()
    first = real()
    time.sleep(0.01)
    assert real() > first
