"""deploy/mailbot.service as the tests check it: systemd-analyze, and the unit with its
ExecStart= pointing at a mailbot that exists on this machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
UNIT = ROOT / "deploy" / "mailbot.service"
INSTALLED_MAILBOT = "/opt/mailbot/venv/bin/mailbot"


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.fail(
            "systemd-analyze is missing, so deploy/mailbot.service cannot be checked: install "
            "Debian's systemd package (apt-get install --no-install-recommends systemd; "
            "scripts/test does this). systemd does not have to be running.",
            pytrace=False,
        )
    return found


def unit_pointing_at(directory: Path, mailbot: Path | None = None) -> Path:
    """deploy/mailbot.service with ExecStart= pointing at `mailbot` (default: this venv's),
    since systemd-analyze verify checks that the program exists. Nothing else changes."""
    mailbot = mailbot or Path(sys.executable).parent / "mailbot"
    if not os.access(mailbot, os.X_OK):
        pytest.fail(f"{mailbot} is missing: pip install -e . into this venv", pytrace=False)
    text = UNIT.read_text(encoding="utf-8")
    assert text.count(f"ExecStart={INSTALLED_MAILBOT} ") == 1
    unit = directory / "mailbot.service"  # the file name is the unit name
    unit.write_text(
        text.replace(f"ExecStart={INSTALLED_MAILBOT} ", f"ExecStart={mailbot} "),
        encoding="utf-8",
    )
    return unit


def verify_unit(unit: Path) -> None:
    """systemd-analyze verify accepts `unit`: exit 0 and no line about it."""
    result = subprocess.run(
        [systemd_analyze(), "verify", "--man=no", os.fspath(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = (result.stdout + result.stderr).strip()
    # systemd 252 exits 0 on unknown keys and unparsable values, it only prints a warning:
    # any line about our file counts as a failure too.
    ours = [line for line in output.splitlines() if "mailbot" in line]
    assert result.returncode == 0 and not ours, (
        f"systemd-analyze verify {unit} (exit {result.returncode}):\n{output}"
    )
