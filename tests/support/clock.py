"""A clock the test moves: mailbot reads the time only through the injected callable."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

BRUSSELS = ZoneInfo("Europe/Brussels")


class FakeClock:
    """Stands still until the test moves it; give it to App(..., clock) or a provider."""

    def __init__(self, start: datetime | None = None) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self.now = start if start is not None else datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move forward by timedelta(**delta), e.g. advance(minutes=5)."""
        self.now += timedelta(**delta)

    def set_local(self, day: date, hh: int = 8, mm: int = 30) -> None:
        """Jump to hh:mm on day, Brussels time."""
        self.now = datetime(day.year, day.month, day.day, hh, mm, tzinfo=BRUSSELS).astimezone(UTC)


def fake_now(**delta: float) -> dict[str, str]:
    """The environment that makes a mailbot child process live timedelta(**delta) from
    now (MAILBOT_FAKE_NOW; time runs on from there): for the CLI, which has no clock
    argument."""
    return {"MAILBOT_FAKE_NOW": (datetime.now(UTC) + timedelta(**delta)).isoformat()}
