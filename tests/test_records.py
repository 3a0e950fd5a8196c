"""The complaints register, the yearly report and the citizen's rights, end to end: a year
of cases through the real intake (Dovecot, SMTP server, injected clock), the real command
line, and the report opened in a real headless Chromium."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from harness import Mailbox, SmtpSink
from support.app import mailbot
from support.mails import complaint
from support.records_year import BRUSSELS, YEAR, Planned, Year, build_year, working_days


class Figures(HTMLParser):
    """The report's figures: every element with data-figure, its data-value or text."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []
        self._text: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if "data-figure" in found:
            name = found["data-figure"] or ""
            self._open.append((name, found.get("data-value")))
            self._text[name] = ""

    def handle_data(self, data: str) -> None:
        for name, _value in self._open:
            self._text[name] += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "b") and self._open:
            name, value = self._open.pop()
            self.values[name] = value if value is not None else self._text[name].strip()


def report_figures(html: str, prefix: str = "") -> dict[str, Any]:
    parser = Figures()
    parser.feed(html)
    found: dict[str, Any] = {}
    for name, text in parser.values.items():
        if prefix:
            if not name.startswith(prefix):
                continue
            name = name[len(prefix) :]
        elif ":" in name and name.split(":")[0] in ("previous", "previous-month"):
            continue
        found[name] = None if text in ("", "-") else float(text) if "." in text else int(text)
    return found


def at(moment: datetime) -> dict[str, str]:
    return dict(os.environ, MAILBOT_FAKE_NOW=moment.isoformat())


def run(year: Year, *args: str | Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(year.config), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=at(year.clock.now),
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def year(tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str) -> Year:
    return build_year(tmp_path, mailbox, smtp_server, sqlite_url)


def test_register_has_one_row_per_case_with_the_counted_days(year: Year, tmp_path: Path) -> None:
    out = tmp_path / "register.csv"
    printed = run(year, "register", "export", "--year", str(YEAR), "--format", "csv", "--out", out)
    cases = [c for c in year.cases if c.received.year == YEAR]
    assert f"{len(cases)} case(s)" in printed.stdout
    text = out.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(text.splitlines(), delimiter=";"))
    assert [r["Referentie"] for r in rows] == [c.reference for c in cases]
    for row, case in zip(rows, cases, strict=True):
        answered = case.answered_on
        assert (
            row["Kanaal"]
            == {"email": "e-mail", "form": "webformulier", "letter": "brief"}[case.channel]
        )
        assert row["Ontvangen"] == case.received_on.isoformat()
        assert row["Termijn"] == case.deadline.isoformat()
        assert row["Beantwoord op"] == (answered.isoformat() if answered else "")
        if answered is not None:
            assert int(row["Kalenderdagen"]) == (answered - case.received_on).days
            assert int(row["Werkdagen"]) == working_days(case.received_on, answered)
            assert row["Tijdig beantwoord"] == ("ja" if answered <= case.deadline else "nee")
        assert row["Reden onontvankelijk"] == (case.reason or "")
        assert row["Dienst"] == (case.service or "")
        assert row["Beoordeling"] == (case.outcome or "").replace("-", " ")
        assert row["Ontvankelijk"] == {"inadmissible": "nee", "open": ""}.get(case.kind, "ja")

    xlsx = tmp_path / "register.xlsx"
    run(year, "register", "export", "--year", str(YEAR), "--format", "xlsx", "--out", xlsx)
    from openpyxl import load_workbook

    sheet = load_workbook(xlsx).active
    assert sheet is not None
    assert [c.value for c in sheet[1]][:3] == ["Referentie", "Kanaal", "Ontvangen"]
    assert sheet.max_row == len(cases) + 1
    assert sheet.freeze_panes == "B2"
    assert sheet.auto_filter.ref == f"A1:M{len(cases) + 1}"
    received = sheet.cell(row=2, column=3)
    assert received.is_date and received.value.date() == cases[0].received_on


def test_yearly_report_figures_match_an_independent_count(year: Year, tmp_path: Path) -> None:
    out = tmp_path / "rapport.html"
    run(year, "report", "--year", str(YEAR), "--out", out)
    html = out.read_text(encoding="utf-8")

    def counted(figures: dict[str, Any]) -> dict[str, Any]:
        # a reason, service, channel or outcome with no cases may be left out of a table
        return {k: v for k, v in figures.items() if not (":" in k and v == 0)}

    expected = year.expected(YEAR)
    assert counted(report_figures(html)) == counted(expected)
    previous = year.expected(YEAR - 1)
    found_previous = report_figures(html, prefix="previous:")
    for key in ("total", "complaints", "not_complaints", "admissible", "inadmissible"):
        assert found_previous[key] == previous[key], key
    assert found_previous["share_in_time"] == previous["share_in_time"]
    for month in range(1, 13):
        assert report_figures(html, "previous-month:")[str(month)] == previous[f"month:{month}"]

    # nothing personal, nothing remote
    for case in year.cases:
        assert case.email not in html and case.name not in html
    assert not re.search(r'(?:src|href)\s*=\s*"(?:https?:)?//', html)
    assert "<script" not in html
    assert html.count("<svg") == 4


def chromium() -> str:
    for name in ("chromium-headless-shell", "chromium"):
        found = shutil.which(name) or shutil.which(name, path="/usr/lib/chromium")
        if found:
            return found
    pytest.fail("no Chromium: apt-get install chromium-headless-shell (scripts/test does)")


def open_in_chromium(page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                *extra,
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def test_the_report_renders_in_a_real_browser_with_its_charts(year: Year, tmp_path: Path) -> None:
    out = tmp_path / "rapport.html"
    run(year, "report", "--year", str(YEAR), "--out", out)

    dom = open_in_chromium(out, "--dump-dom")
    assert dom.returncode == 0, dom.stderr
    assert f"Jaarverslag klachtenbehandeling {YEAR}" in dom.stdout
    svgs = re.findall(r"<svg\b[^>]*>", dom.stdout)
    assert len(svgs) == 4
    assert all('aria-label="' in s for s in svgs)
    assert dom.stdout.count("<path") > 100  # bars, axes and the text drawn as paths
    assert "CONSOLE" not in dom.stderr and "Failed to load" not in dom.stderr, dom.stderr

    shot = tmp_path / "rapport.png"
    picture = open_in_chromium(out, f"--screenshot={shot}", "--window-size=900,1400")
    assert picture.returncode == 0, picture.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if os.environ.get("MAILBOT_REPORT_SCREENSHOT"):  # for docs/: keep the example
        shutil.copy(shot, os.environ["MAILBOT_REPORT_SCREENSHOT"])
        shutil.copy(out, Path(os.environ["MAILBOT_REPORT_SCREENSHOT"]).with_suffix(".html"))


def test_report_and_register_need_no_cases(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    from support.app import new_app, write_config

    config = write_config(tmp_path, mailbox, smtp_server, sqlite_url)
    new_app(config)
    out = tmp_path / "leeg.html"
    result = mailbot("--config", config, "report", "--year", "2030", "--out", out)
    assert result.returncode == 0, result.stderr
    figures = report_figures(out.read_text(encoding="utf-8"))
    assert figures["total"] == 0 and figures["share_in_time"] is None
    empty = mailbot("--config", config, "register", "export", "--year", "2030", "--out", "-")
    assert empty.returncode == 0 and empty.stdout.startswith("Referentie;Kanaal;Ontvangen")


# -- the citizen's rights, and retention: no trace left ------------------------------------

AN = "an.peeters@burger.example"
BO = "bo.maes@burger.example"
PERSONAL = (AN, "An Peeters", "Stoep kapot", "foto van de stoep")


def database_files(url: str) -> list[Path]:
    """The SQLite database and its write-ahead log: where deleted rows linger."""
    path = Path(url.removeprefix("sqlite:///"))
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


def traces(url: str, app: Any, *needles: str) -> list[str]:
    """Where any of the needles is still stored: raw database files (SQLite) or, on any
    database, the stored originals, attachments and every text column."""
    from sqlalchemy import select

    from mailbot.persistence.tables import Base, Blob

    found = []
    if url.startswith("sqlite"):
        for path in database_files(url):
            data = path.read_bytes()
            found += [f"{path.name}: {n}" for n in needles if n.encode() in data]
    with app.sessions() as session:
        for blob in session.execute(select(Blob.data)).scalars():
            found += [f"blob: {n}" for n in needles if n.encode() in blob]
        for table in Base.metadata.sorted_tables:
            for row in session.execute(table.select()).all():
                text = repr(tuple(row))
                found += [f"{table.name}: {n}" for n in needles if n in text]
    return found


def mailbox_traces(mailbox: Mailbox, *needles: str) -> list[str]:
    return [
        f"{folder}: {n}"
        for folder in ("INBOX", "Verwerkt", "Quarantaine")
        for raw in mailbox.fetch_all(folder)
        for n in needles
        if n.encode() in raw
    ]


def citizens(tmp_path: Path, mailbox: Mailbox, smtp: SmtpSink, url: str) -> Year:
    """An Peeters: an answered case with a photo and a follow-up, an open case, and an
    unreadable mail that names her; Bo Maes: a case that must stay untouched."""
    year = build_year(tmp_path, mailbox, smtp, url, count=6, previous=0)
    base = datetime(YEAR, 10, 6, 10, 0, tzinfo=BRUSSELS)
    photo = b"\xff\xd8" + b"foto van de stoep " * 40
    first = Planned(base, "email", "sent-answer", "An Peeters", AN, delay=12, outcome="gegrond")
    year.deliver(
        "INBOX",
        complaint("An Peeters", AN, "Stoep kapot", attachment=("stoep.jpg", "image/jpeg", photo)),
        base,
    )
    first.reference = year.newest_reference()
    year.cases.append(first)
    year.deliver(
        "INBOX",
        complaint("An Peeters", AN, f"Re: Ontvangstmelding [{first.reference}]", "Nog iets."),
        base + timedelta(days=2),
    )
    year.decide(first)
    second = Planned(base + timedelta(days=20), "email", "open", "An Peeters", AN)
    year.open_case(second)
    bo = Planned(base + timedelta(days=21), "email", "inadmissible", "Bo Maes", BO, delay=3)
    bo.reason = "melding"
    year.open_case(bo)
    year.decide(bo)
    unreadable = f"garbage without any header line, van {AN}\r\n".encode()
    year.deliver("INBOX", unreadable, base + timedelta(days=25))
    year.other_mails[YEAR] += 1
    year.at(datetime(YEAR + 1, 2, 1, 9, 0, tzinfo=BRUSSELS))
    year.photo = photo  # type: ignore[attr-defined]
    return year


def test_access_export_holds_everything_stored_about_the_address(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    import json
    import zipfile

    year = citizens(tmp_path, mailbox, smtp_server, sqlite_url)
    out = tmp_path / "inzage.zip"
    result = run(year, "privacy", "export", "--email", AN.upper(), "--out", out)
    assert "2 case(s)" in result.stdout
    assert AN not in result.stderr  # logged without the address
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        summary = json.loads(archive.read("overzicht.json"))
        emls = [archive.read(n) for n in names if n.endswith(".eml")]
        attachments = [archive.read(n) for n in names if "-bijlagen/" in n]
    mine = [c.reference for c in year.cases if c.email == AN]
    assert [c["reference"] for c in summary["cases"]] == mine
    assert {c["email"] for c in summary["cases"]} == {AN}
    assert attachments == [year.photo]  # type: ignore[attr-defined]
    kinds = [m["kind"] for m in summary["mails"]]
    for kind in ("complaint", "follow_up", "receipt", "answer", "quarantined"):
        assert kind in kinds, kinds
    assert any(b"Stoep kapot" in e for e in emls)
    assert any(b"garbage without any header line" in e for e in emls)
    assert all(BO.encode() not in e for e in emls)


def test_erasure_leaves_no_trace_and_the_yearly_figures_stay(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    year = citizens(tmp_path, mailbox, smtp_server, sqlite_url)
    before = tmp_path / "voor.html"
    run(year, "report", "--year", str(YEAR), "--out", before)
    assert traces(sqlite_url, year.app, AN, "An Peeters")  # the search finds what is there
    assert mailbox_traces(mailbox, AN)

    refused = subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(year.config), "privacy", "erase",
         "--email", AN],
        capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL,
        env=at(year.clock.now),
    )  # fmt: skip
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert traces(sqlite_url, year.app, AN)  # nothing happened without confirmation

    with year.app.engine.connect():  # as the running daemon would: the WAL stays
        erased = run(year, "privacy", "erase", "--email", AN, "--yes")
        assert "erased: 2 case(s)" in erased.stdout
        assert AN not in erased.stdout + erased.stderr  # logged without the address
        assert traces(sqlite_url, year.app, *PERSONAL) == []
    year.app.engine.dispose()

    assert traces(sqlite_url, year.app, *PERSONAL) == []
    assert mailbox_traces(mailbox, AN, "An Peeters") == []
    assert traces(sqlite_url, year.app, BO)  # another citizen keeps everything
    assert any(BO.encode() in raw for raw in mailbox.fetch_all("Verwerkt"))

    after = tmp_path / "na.html"
    run(year, "report", "--year", str(YEAR), "--out", after)
    old, new = report_figures(before.read_text()), report_figures(after.read_text())
    # The open case was closed (nothing is left to handle); every other figure stays.
    closed = {k: old.pop(k) - new.pop(k) for k in ("open_cases", "open_overdue")}
    assert closed == {"open_cases": 1, "open_overdue": 1}
    assert new == old
    empty = run(year, "privacy", "export", "--email", AN, "--out", tmp_path / "leeg.zip")
    assert empty.stdout.startswith("privacy export: 0 case(s)")


def test_retention_leaves_no_trace_in_the_database_files(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    year = citizens(tmp_path, mailbox, smtp_server, sqlite_url)
    before = tmp_path / "voor.html"
    run(year, "report", "--year", str(YEAR), "--out", before)
    mine = [c for c in year.cases if c.email == AN]
    year.at(year.clock.now + timedelta(days=800))
    with year.app.engine.connect():  # as the running daemon would: the WAL stays
        purged = run(year, "retention")
        assert mine[0].reference in purged.stdout and mine[1].reference not in purged.stdout
        # the finished case's mails are gone, down to the raw files; the open case keeps its own
        assert traces(sqlite_url, year.app, "Stoep kapot", "foto van de stoep", "Nog iets.") == []
    after = tmp_path / "na.html"
    run(year, "report", "--year", str(YEAR), "--out", after)
    old, new = report_figures(before.read_text()), report_figures(after.read_text())
    assert old.pop("open_overdue") <= new.pop("open_overdue")  # time went on
    assert new == old
