"""`mailbot run` as a child process, stopped with SIGTERM (killed if it hangs) afterwards."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def daemon(
    config: Path, log: Path, *options: str, stop_within: float = 20
) -> Iterator[subprocess.Popen[bytes]]:
    """The real daemon on `config`, its stderr appended to `log`; `options` go before `run`."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "mailbot", "--config", str(config), *options, "run"],
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=stop_within)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
