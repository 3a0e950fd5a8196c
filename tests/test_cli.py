"""The command line itself: what it loads, how it starts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "alembic", "mailbot.daemon", "mailbot.config", "holidays", "jinja2")

# Runs `python -m mailbot ARGS` in this child and then reports which heavy modules it
# loaded: an honest check of what starting the command costs, without timing anything.
PROBE = """
import json, runpy, sys
sys.argv = ["mailbot", *sys.argv[1:]]
try:
    runpy.run_module("mailbot", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
heavy = json.loads(HEAVY)
print(json.dumps(sorted(m for m in sys.modules if m.partition(".")[0] in heavy or m in heavy)))
"""


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["cases", "--help"]])
def test_help_and_version_load_no_database_or_daemon_code(args: list[str]) -> None:
    probe = PROBE.replace("HEAVY", repr(json.dumps(HEAVY)))
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    *output, loaded = done.stdout.strip().splitlines()
    assert "mailbot" in "\n".join(output)  # the help or the version was printed
    assert json.loads(loaded) == []
