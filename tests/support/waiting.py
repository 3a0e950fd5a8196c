"""Wait for what a user would notice, never for a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    what: str,
    *logs: Path,
    interval: float = 0.05,
) -> T:
    """Call predicate until it returns something truthy and return that.

    After `timeout` seconds raise AssertionError naming `what`, with the end of each log
    file (a daemon's stderr, say), so a failure shows why the condition never came.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            shown = "\n".join(f"--- {log.name}\n{_tail(log)}" for log in logs)
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{shown}")
        time.sleep(interval)


def _tail(log: Path, limit: int = 4000) -> str:
    try:
        return log.read_text(errors="replace")[-limit:]
    except FileNotFoundError:
        return f"<{log} does not exist>"
