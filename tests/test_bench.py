"""The benchmarks in bench/ run here in a short variant, so they never rot; the figures
that count come from running them by hand at full size (see the README)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def bench(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run one benchmark script as a user would, its output captured."""
    return subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_reminder_benchmark_short_variant(db: str) -> None:
    result = bench("reminders.py", "--cases", "300", "--db", db)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all(f"{db}" in line and "300 cases" in line for line in lines)
    assert "digest" in lines[1] and "mails queued" in lines[1]


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_retention_benchmark_short_variant(db: str) -> None:
    result = bench("retention.py", "--cases", "200", "--db", db)
    assert result.returncode == 0, result.stdout + result.stderr
    # half of the cases were closed three years ago: those, and the old mail of no case
    assert "removed 100 cases, 150 mails" in result.stdout
    assert "second pass" in result.stdout


@pytest.mark.parametrize("mode", ["idle", "poll"])
def test_latency_benchmark_short_variant(mode: str) -> None:
    # More mails than the per-domain receipt limit (10 an hour) with IDLE: every one
    # must still get its receipt, or the benchmark stops measuring.
    mails = "12" if mode == "idle" else "2"
    result = bench("latency.py", "--mails", mails, "--mode", mode, "--poll-interval", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{mails} mails" in result.stdout and "p50" in result.stdout and "p95" in result.stdout


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_ingest_benchmark_short_variant(tmp_path: Path, db: str) -> None:
    figures = tmp_path / "ingest.json"
    result = bench("ingest.py", "--mails", "30", "--db", db, "--json", str(figures))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "30 mails" in result.stdout and f"mailbot on {db}" in result.stdout
    assert "ratio" in result.stdout
    measured = json.loads(figures.read_text())
    assert measured["database"] == db
    # Every mail was fetched by both contenders and handled by mailbot.
    assert measured["raw"]["mails"] == measured["mailbot"]["mails"] == 30
    assert sum(measured["mailbot"]["outcomes"].values()) == 30
    assert measured["mailbot"]["sent"] > 0
    assert "ceiling" in result.stdout
    assert measured["ceiling"]["serial"] > 0 and measured["ceiling"]["spread"] > 0


def test_ingest_ceilings_follow_from_the_cpu_a_mail() -> None:
    # The raw loop takes 2 ms a mail; mailbot's intake process 4 ms of CPU, its parse
    # worker 2 ms more: one thread cannot beat 2/4, two cores sharing 6 ms not 2*2/6.
    spec = importlib.util.spec_from_file_location("ingest", BENCH / "ingest.py")
    assert spec is not None and spec.loader is not None
    ingest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ingest)
    raw = {"mails": 1000, "seconds": 2.0}
    ours = {"mails": 1000, "cpu_seconds": 4.0, "worker_cpu_seconds": 2.0}
    found = ingest.ceilings(raw, ours, cores=2)
    assert found == pytest.approx({"serial": 0.5, "spread": 2 / 3})
