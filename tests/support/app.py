"""Run mailbot against the real servers of conftest.py: its config, an App, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness import Mailbox, SmtpSink

from mailbot.app import App
from mailbot.config import load_config
from mailbot.domain.ports import Clock, system_clock

COORDINATOR = "coordinator@gemeente.example"
FROM_ADDRESS = "klachten@gemeente.example"
# [receipts] for runs that must answer every new case (benchmarks): no limit ever trips.
NO_RECEIPT_LIMITS: dict[str, object] = {
    "max_per_hour": 10_000_000,
    "max_per_domain_per_hour": 10_000_000,
    "max_per_sender_per_day": 10_000_000,
}


def write_config(
    directory: Path,
    mailbox: Mailbox,
    smtp: SmtpSink,
    db_url: str,
    /,
    **sections: dict[str, Any],
) -> Path:
    """A config file for this test's servers; `sections` override or add keys."""
    values: dict[str, dict[str, Any]] = {
        "mailbox": {
            "host": mailbox.host,
            "port": mailbox.port,
            "security": "plain",
            "username": mailbox.username,
            "password": mailbox.password,
            "poll_interval": 0.5,
        },
        "smtp": {
            "host": smtp.host,
            "port": smtp.port,
            "security": "plain",
            "from_address": FROM_ADDRESS,
            "from_name": "Klachtendienst Gemeente",
        },
        "database": {"url": db_url},
        "staff": {"coordinator": COORDINATOR},
        "outbox": {"retry_initial": 1.0, "retry_max": 2.0},
        # Off unless a test is about them: a daily digest would add a mail to every test.
        "reminders": {"enabled": False},
    }
    for section, keys in sections.items():
        values.setdefault(section, {}).update(keys)
    lines: list[str] = []
    for section, keys in values.items():
        lines.append(f"[{section}]")
        for key, value in keys.items():
            lines.append(f"{key} = {_toml(value)}")
        lines.append("")
    path = directory / "config.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


OPEN_APPS: list[App] = []  # closed after each test by conftest.py


def new_app(config: Path, clock: Clock = system_clock) -> App:
    """An App on this test's servers, schema upgraded; conftest closes it afterwards."""
    app = App(load_config(config), clock)
    OPEN_APPS.append(app)
    app.upgrade_schema()
    return app


def make_app(
    directory: Path,
    mailbox: Mailbox,
    smtp: SmtpSink,
    db_url: str,
    /,
    clock: Clock = system_clock,
    **sections: dict[str, Any],
) -> App:
    """new_app on a config file written by write_config."""
    return new_app(write_config(directory, mailbox, smtp, db_url, **sections), clock)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def mailbot(
    *args: str | Path, timeout: float = 120, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a child process, as ops would; env adds variables."""
    return subprocess.run(
        [sys.executable, "-m", "mailbot", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **env} if env else None,
    )
