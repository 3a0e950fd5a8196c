"""`mailbot demo`: what a new user sees, and the files it can leave behind.

The demo brings its own servers (pymap, aiosmtpd) inside the process: these tests need
neither Dovecot nor PostgreSQL, only the packages of the `demo` extra.
"""

from __future__ import annotations

import gc
import io
import re
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import TextIO

import pytest
from support.app import mailbot

from mailbot.app import App
from mailbot.config import load_config
from mailbot.demo import remind, run_demo
from mailbot.persistence import cases as repo


def _section(output: str, title: str) -> str:
    """The text between a heading line that starts with `title` and the next heading."""
    match = re.search(
        rf"^{re.escape(title)}[^\n]*\n-+\n(.*?)(?=^\S[^\n]*\n[-=]{{10,}}\n|\Z)",
        output,
        re.M | re.S,
    )
    assert match, f"no section {title!r} in:\n{output}"
    return match.group(1)


def test_the_demo_shows_cases_receipts_notices_and_what_went_wrong() -> None:
    threads_before = set(threading.enumerate())
    later: list[tuple[datetime, list[str]]] = []

    def month_later(app: App, out: TextIO) -> None:
        with app.sessions() as session:
            later.append((app.clock(), [c.deadline.isoformat() for c in repo.list_cases(session)]))
        remind(app, out)

    out = io.StringIO()
    code = run_demo(out, month_later=month_later)
    text = out.getvalue()

    assert code == 0, text
    assert "NOT AS EXPECTED" not in text
    year = re.search(r"^KL-(\d{4})-0001  received ", text, re.M)
    assert year, text
    ref = [f"KL-{year.group(1)}-000{n}" for n in (1, 2, 3)]

    cases = _section(text, "The cases, as `mailbot cases list` shows them")
    for reference in ref:
        assert re.search(rf"^{reference}  received ", cases, re.M), cases

    # The citizens got Dutch receipts with the statutory date, and nothing meant for staff.
    citizens = _section(text, "What the citizens received")
    assert citizens.count("Subject: Ontvangstmelding van je klacht") == 3
    assert "To:      Marie Peeters <marie.peeters@mail.example>" in citizens
    assert re.search(r"Je krijgt ten laatste op \d{1,2} [a-z]+ \d{4} een gemotiveerd", citizens)
    assert "Nieuwe klacht" not in citizens and "quarantaine" not in citizens

    # The coordinator heard of every case, the quarantined mail and the bounce.
    staff = _section(text, "What the coordinator received")
    assert f"Subject: Nieuwe klacht {ref[0]}: Wachttijd aan het loket Burgerzaken" in staff
    assert f"Subject: Nieuwe klacht {ref[2]}: Containerpark gesloten zonder" in staff
    assert "Subject: Mail in quarantaine: niet leesbaar" in staff
    assert "Reden:      no headers: not an RFC 5322 message" in staff
    assert f"Subject: Mail niet afgeleverd in dossier {ref[1]}" in staff
    assert "jan.desmet@oude-provider.example" in staff

    # What happened to each incoming mail is said in English.
    assert "-> moved to the Quarantaine folder (no headers" in text
    assert f"-> joined case {ref[1]} as a follow-up: no new case, no second receipt" in text
    assert f"-> joined case {ref[1]} as a bounce; the coordinator is told" in text
    assert f"-> joined case {ref[0]} as an automatic reply: recorded, never answered" in text
    # The website form's mail: the citizen comes from its fields, and she got the receipt.
    assert f"{ref[2]}, channel form, citizen Sofie Janssens" in " ".join(text.split())
    assert "To:      Sofie Janssens <sofie.janssens@mail.example>" in citizens
    shown = cases.split("Their messages, in and out", 1)[1]
    assert re.search(r"<- follow_up +Jan De Smet <jan\.desmet@mail\.example>", shown)
    assert re.search(r"<- bounce +Mail Delivery System", shown)
    assert "INBOX: 0 mails, Verwerkt: 6 mails, Quarantaine: 1 mail" in text

    # The month-later step ran once, with the clock past every deadline.
    assert len(later) == 1
    clock, deadlines = later[0]
    assert len(deadlines) == 3
    assert all(clock.date().isoformat() > deadline for deadline in deadlines)
    assert "Termijn overschreden" in staff

    # The temporary folder is gone and the servers' thread has ended.
    folder = re.search(r"^  data  (\S+)/  ", text, re.M)
    assert folder and not Path(folder.group(1)).exists()
    gc.collect()  # a leaked socket or event loop would warn (an error here) now
    assert set(threading.enumerate()) <= threads_before


def test_kept_files_serve_the_real_cli_afterwards(tmp_path: Path) -> None:
    keep = tmp_path / "demo"
    run = subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", "-m", "mailbot.demo", "--keep", keep],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and "Exception ignored" not in run.stderr, run.stderr
    assert f"mailbot --config {keep / 'config.toml'} cases list" in run.stdout
    assert sorted(p.name for p in keep.iterdir()) == ["config.toml", "mailbot.sqlite3"]

    listed = mailbot("--config", keep / "config.toml", "cases", "list")
    assert listed.returncode == 0, listed.stderr
    references = re.findall(r"^(KL-\d{4}-\d{4})  received ", listed.stdout, re.M)
    assert len(references) == 3 and references[0].endswith("-0001")

    app = App(load_config(keep / "config.toml", env={}))
    try:
        with app.sessions() as session:
            cases = repo.list_cases(session)
    finally:
        app.close()
    assert [c.citizen_email for c in cases] == [
        "marie.peeters@mail.example",
        "jan.desmet@oude-provider.example",
        "sofie.janssens@mail.example",
    ]


def test_keep_never_overwrites_an_existing_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config.toml").write_text("# the real one\n")

    assert run_demo(io.StringIO(), keep=tmp_path) == 2

    assert (tmp_path / "config.toml").read_text() == "# the real one\n"
    assert "already holds config.toml" in capsys.readouterr().err


def test_without_the_demo_extra_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # None in sys.modules makes an import fail as if the package were not installed.
    for name in [m for m in sys.modules if m == "pymap" or m.startswith("pymap.")] or ["pymap"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "mailbot.demo.servers", raising=False)

    assert run_demo(io.StringIO()) == 1

    assert "pip install 'mailbot[demo]'" in capsys.readouterr().err
