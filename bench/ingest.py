"""Benchmark: backlog ingest against the raw fetch+parse limit, same mails, same run.

    .venv/bin/python bench/ingest.py --mails 1000 --json ingest-1000.json
    .venv/bin/python bench/ingest.py --mails 10000 --json ingest-10000.json
    .venv/bin/python bench/ingest.py --mails 2000 --profile profile.txt   # py-spy of mailbot

Starts a private Dovecot and an aiosmtpd sink (the test suite's, tests/servers.py) and
fills one INBOX with N generated mails: Dutch complaints (some with PDF/JPEG attachments,
about 85 KB mean), replies to earlier complaints, auto-replies and bounces. Then, each in
its own process so that peak RSS is its own:

1. the raw loop: imapclient UID FETCH BODY.PEEK[] in batches of 200 and
   mailparser.parse_from_bytes for each mail, nothing else; then the same loop with
   imaplib's response trace turned down as mailbot turns it down (imapclient switches it
   on, and imaplib formats every fetched mail into it), a stricter limit;
2. mailbot's intake pass over the same INBOX (SQLite, every mail stored, cases opened,
   receipts and staff notices written to the outbox, mails moved), then, timed apart,
   the delivery pass that sends the outbox to the sink.

Prints mails/s for both, the ratio, the peak RSS of both, and the ceilings the measured CPU
a mail puts on the ratio (`ceilings`); --json writes the figures.
Receipt limits are raised for the run, so that every new case gets its receipt (the
expensive path, as on a morning after an outage with many different citizens).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

FIRST = ["Jan", "An", "Pieter", "Els", "Koen", "Sofie", "Wim", "Lotte", "Bart", "Nele"]
LAST = ["Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens"]
DOMAINS = ["telenet.be", "skynet.be", "gmail.com", "proximus.be", "hotmail.com"]
TOPICS = [
    ("Sluikstort in de Kerkstraat", "Al twee weken ligt er afval naast de glasbol."),
    ("Put in het fietspad", "Op het fietspad langs de Ringlaan zit een diepe put."),
    ("Geen antwoord op mijn aanvraag", "Ik vroeg in maart een parkeerkaart aan."),
    ("Lawaai van de bouwwerf", "De werken beginnen elke ochtend om zes uur."),
    ("Straatverlichting defect", "Sinds vorige week brandt er geen enkele lamp meer."),
    ("Klacht over het loket", "Ik werd aan het loket onvriendelijk behandeld."),
]
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def _person(rng: random.Random, n: int) -> tuple[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return f"{first} {last}", f"{first}.{last}.{n}@{rng.choice(DOMAINS)}".lower()


def _complaint(rng: random.Random, n: int, when: Any) -> EmailMessage:
    name, address = _person(rng, n)
    subject, line = rng.choice(TOPICS)
    msg = EmailMessage()
    msg["From"] = f"{name} <{address}>"
    msg["To"] = "klachten@gemeente.example"
    msg["Subject"] = f"{subject} ({n})"
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(f"c{n}", "burger.example")
    paragraphs = [line] + [
        "Ik heb dit al eerder gemeld, maar er is nog niets gebeurd. " * rng.randint(2, 8)
        for _ in range(rng.randint(2, 12))
    ]
    text = "\n\n".join(paragraphs)
    msg.set_content(f"Goedemiddag,\n\n{text}\n\nMet vriendelijke groet,\n{name}\n")
    if rng.random() < 0.55:  # a photo or a scanned letter: most of the bytes of a backlog
        size = int(rng.expovariate(1 / 150_000)) + 5_000
        if rng.random() < 0.5:
            msg.add_attachment(
                PDF + rng.randbytes(size),
                maintype="application",
                subtype="pdf",
                filename=f"brief-{n}.pdf",
            )
        else:
            msg.add_attachment(
                b"\xff\xd8\xff\xe0" + rng.randbytes(size),
                maintype="image",
                subtype="jpeg",
                filename=f"foto-{n}.jpg",
            )
    return msg


def _reply(rng: random.Random, n: int, original: EmailMessage, when: Any) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = original["From"]
    msg["To"] = "klachten@gemeente.example"
    msg["Subject"] = f"Re: {original['Subject']}"
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(f"r{n}", "burger.example")
    msg["In-Reply-To"] = original["Message-ID"]
    msg["References"] = original["Message-ID"]
    body = original.get_body()
    text = body.get_content() if body is not None else ""
    quoted = "\n".join(f"> {line}" for line in text.splitlines())
    msg.set_content(f"Nog een foto erbij, het is nog erger geworden.\n\n{quoted}\n")
    return msg


def _auto_reply(rng: random.Random, n: int, when: Any) -> EmailMessage:
    name, address = _person(rng, n)
    msg = EmailMessage()
    msg["From"] = f"{name} <{address}>"
    msg["To"] = "klachten@gemeente.example"
    msg["Subject"] = "Afwezig: uw bericht"
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(f"a{n}", "burger.example")
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content("Ik ben afwezig tot maandag en lees mijn mail niet.\n")
    return msg


def _bounce(rng: random.Random, n: int, when: Any) -> EmailMessage:
    _name, address = _person(rng, n)
    msg = EmailMessage()
    msg["From"] = "Mail Delivery System <MAILER-DAEMON@mx.gemeente.example>"
    msg["To"] = "klachten@gemeente.example"
    msg["Subject"] = "Undelivered Mail Returned to Sender"
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(f"b{n}", "mx.gemeente.example")
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(f"This is the mail system.\n\n<{address}>: host said: 550 user unknown\n")
    status = EmailMessage()
    status.set_content(
        f"Reporting-MTA: dns; mx.gemeente.example\n\nFinal-Recipient: rfc822; {address}\n"
        "Action: failed\nStatus: 5.1.1\n"
    )
    msg.add_attachment(status.get_content(), subtype="plain", filename="status.txt")
    return msg


def generate(count: int, seed: int = 13) -> list[tuple[bytes, datetime]]:
    """count mails: 70 % new complaints, 15 % replies, 10 % auto-replies, 5 % bounces."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    complaints: list[EmailMessage] = []
    mails = []
    for n in range(count):
        when = now - timedelta(minutes=count - n)
        roll = rng.random()
        if roll < 0.15 and complaints:
            msg = _reply(rng, n, rng.choice(complaints), when)
        elif roll < 0.25:
            msg = _auto_reply(rng, n, when)
        elif roll < 0.30:
            msg = _bounce(rng, n, when)
        else:
            msg = _complaint(rng, n, when)
            complaints.append(msg)
        mails.append((msg.as_bytes(policy=SMTP), when))
    return mails


def fill(box: Any, mails: list[tuple[bytes, datetime]], burst: bool = False) -> None:
    """Into the INBOX, each arrived (INTERNALDATE) when its Date says, one a minute, as a
    backlog that built up over a night; with burst, all of them just now, as a flood."""
    with box.connect() as client:
        for raw, when in mails:
            client.append("INBOX", raw, msg_time=None if burst else when)


# -- the two contenders, each in a process of its own ---------------------------------


def _peak_rss_mb(pid: int | None = None) -> float:
    """A process's own high-water mark, this one's by default (VmHWM; getrusage's
    ru_maxrss would include the parent's size at fork, which Linux carries across exec)."""
    for line in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    if pid is not None:
        return 0.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_raw(host: str, port: int, user: str, password: str, trace: bool = True) -> dict[str, Any]:
    """The raw loop; `trace=False` turns imaplib's response trace down as mailbot does
    (`inbound/imap.py` `_settle`), a stricter limit than plain imapclient."""
    import mailparser
    from imapclient import IMAPClient

    started, cpu = time.perf_counter(), time.process_time()
    client = IMAPClient(host, port, ssl=False)
    if not trace:
        client._imap.debug = 4
    client.login(user, password)
    client.select_folder("INBOX", readonly=True)
    uids = sorted(client.search("ALL"))
    parsed = 0
    for start in range(0, len(uids), 200):
        data = client.fetch(uids[start : start + 200], ["BODY.PEEK[]"])
        for uid in uids[start : start + 200]:
            mailparser.parse_from_bytes(data[uid][b"BODY[]"])
            parsed += 1
    client.logout()
    seconds = time.perf_counter() - started
    return {
        "mails": parsed,
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "peak_rss_mb": _peak_rss_mb(),
    }


def child_mailbot(config: str) -> dict[str, Any]:
    from sqlalchemy import event

    from mailbot.app import App
    from mailbot.cli import setup_logging
    from mailbot.config import load_config

    loaded = load_config(Path(config))
    setup_logging(loaded.logging.level)  # as `mailbot run` does: INFO, one line a mail
    app = App(loaded)
    app.upgrade_schema()
    statements: Counter[str] = Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements[statement.split(None, 1)[0].upper()] += 1

    event.listen(app.engine, "before_cursor_execute", count)
    checkpointer = getattr(app, "checkpointer", None)  # SQLite's, on a thread of its own
    copied = checkpointer.cpu_seconds if checkpointer else 0.0
    started, cpu = time.perf_counter(), time.process_time()
    stats = app.intake_pass()
    intake, intake_cpu = time.perf_counter() - started, time.process_time() - cpu
    copied = (checkpointer.cpu_seconds if checkpointer else 0.0) - copied
    event.remove(app.engine, "before_cursor_execute", count)
    workers = [p.pid for p in multiprocessing.active_children() if p.pid is not None]
    worker_mb = sum(_peak_rss_mb(pid) for pid in workers)
    worker_cpu = sum(_cpu_seconds(pid) for pid in workers)
    started = time.perf_counter()
    sent = app.dispatch_pass()
    dispatch = time.perf_counter() - started
    app.close()
    return {
        "mails": stats.seen,
        "seconds": intake,
        "cpu_seconds": intake_cpu,  # this process only, not the parse worker
        "checkpoint_cpu_seconds": copied,  # of cpu_seconds: the checkpointer's thread
        "outcomes": dict(stats.outcomes),
        "statements": dict(statements),  # SQL statements the intake pass sent, by verb
        "dispatch_seconds": dispatch,
        "sent": sent.sent,
        "peak_rss_mb": _peak_rss_mb(),
        "parsed_in_worker": app.ahead.in_worker,
        "worker_peak_rss_mb": worker_mb,  # the parse worker process (inbound/parse/ahead.py)
        "worker_cpu_seconds": worker_cpu,
    }


def ceilings(raw: dict[str, Any], ours: dict[str, Any], cores: int) -> dict[str, float]:
    """The best ratio mailbot's measured CPU a mail allows, against the raw loop's time a
    mail (the raw loop is one process and uses one core all the time).

    serial: the intake thread's own CPU (the intake process's, less its checkpointer
    thread's): it is one thread doing the database work in order, so no second core makes
    it faster than that. spread: all of mailbot's CPU (the intake process and the parse
    worker) shared perfectly over every core, Dovecot's own CPU not counted. A change that
    does not lower these cannot reach the target."""
    raw_wall = raw["seconds"] / raw["mails"]
    intake_cpu = (ours["cpu_seconds"] - ours.get("checkpoint_cpu_seconds", 0.0)) / ours["mails"]
    total_cpu = (ours["cpu_seconds"] + ours["worker_cpu_seconds"]) / ours["mails"]
    return {"serial": raw_wall / intake_cpu, "spread": cores * raw_wall / total_cpu}


def _run_child(args: list[str], profile: str | None = None) -> dict[str, Any]:
    command = [sys.executable, __file__, *args]
    if profile:
        fmt = "speedscope" if profile.endswith(".json") else "raw"
        spy = Path(sys.executable).parent / "py-spy"
        command = [str(spy), "record", "-r", "200", "-f", fmt, "-o", profile, "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:1])} failed:\n{done.stderr[-5000:]}")
    last = [line for line in done.stdout.splitlines() if line.startswith("{")][-1]
    result: dict[str, Any] = json.loads(last)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--profile", help="py-spy record the mailbot run into this file")
    parser.add_argument(
        "--burst",
        action="store_true",
        help="all mails arrive at once (a flood) instead of one a minute (a backlog)",
    )
    parser.add_argument(
        "--db",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="mailbot's database: SQLite in a temporary folder (the embedded default) or "
        "a new database on the local PostgreSQL, dropped afterwards",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        result = (
            child_raw(rest[0], int(rest[1]), rest[2], rest[3], kind == "raw")
            if kind in ("raw", "raw-untraced")
            else (child_mailbot(rest[0]))
        )
        print(json.dumps(result))
        return 0

    from harness import DovecotServer, SmtpSink
    from scratch import scratch_database
    from support.app import NO_RECEIPT_LIMITS, write_config

    mails = generate(args.mails)
    mean_kb = sum(len(m) for m, _when in mails) / len(mails) / 1000
    dovecot, sink = DovecotServer(), SmtpSink()
    dovecot.start()
    sink.start()
    try:
        box = dovecot.new_mailbox()
        started = time.perf_counter()
        fill(box, mails, args.burst)
        filled = time.perf_counter() - started
        del mails
        login = [box.host, str(box.port), box.username, box.password]
        raw = _run_child(["--child", "raw", *login])
        untraced = _run_child(["--child", "raw-untraced", *login])
        with tempfile.TemporaryDirectory() as tmp, scratch_database(args.db) as url:
            config = write_config(
                Path(tmp),
                box,
                sink,
                url,
                receipts=NO_RECEIPT_LIMITS,
                intake={"backlog_limit": 10_000_000},
            )
            ours = _run_child(["--child", "mailbot", str(config)], args.profile)
    finally:
        sink.stop()
        dovecot.stop()
    raw_rate = raw["mails"] / raw["seconds"]
    untraced_rate = untraced["mails"] / untraced["seconds"]
    our_rate = ours["mails"] / ours["seconds"]
    figures = {
        "mails": args.mails,
        "database": args.db,
        "arrivals": "burst" if args.burst else "one a minute",
        "mean_kb": round(mean_kb, 1),
        "append_seconds": round(filled, 1),
        "raw": {**raw, "rate": raw_rate},
        "raw_untraced": {**untraced, "rate": untraced_rate},
        "mailbot": {**ours, "rate": our_rate},
        "ratio": our_rate / raw_rate,
        "ratio_untraced": our_rate / untraced_rate,
        "ceiling": ceilings(raw, ours, os.cpu_count() or 1),
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs",
    }
    print(f"{args.mails} mails, {mean_kb:.1f} KB mean, mailbot on {args.db}")
    print(
        f"raw fetch+parse  {raw_rate:7.1f} mails/s  ({raw['seconds']:.1f} s)  "
        f"peak RSS {raw['peak_rss_mb']:.0f} MB"
    )
    print(
        f"raw, trace off   {untraced_rate:7.1f} mails/s  ({untraced['seconds']:.1f} s)  "
        f"peak RSS {untraced['peak_rss_mb']:.0f} MB  (imaplib's response trace off, as mailbot)"
    )
    print(
        f"mailbot intake   {our_rate:7.1f} mails/s  ({ours['seconds']:.1f} s)  "
        f"peak RSS {ours['peak_rss_mb']:.0f} MB  outcomes {ours['outcomes']}"
    )
    print(
        f"parse worker     {ours['parsed_in_worker']} mails parsed there, "
        f"{1000 * ours['worker_cpu_seconds'] / ours['mails']:.1f} ms CPU per mail, "
        f"peak RSS {ours['worker_peak_rss_mb']:.0f} MB"
    )
    print(
        f"ratio {figures['ratio']:.2f} x the raw rate, "
        f"{figures['ratio_untraced']:.2f} x the raw rate with the trace off"
    )
    ceiling = figures["ceiling"]
    print(
        f"ceiling          {ceiling['serial']:.2f} x by the intake thread's own CPU a mail, "
        f"{ceiling['spread']:.2f} x by all of mailbot's CPU spread over {os.cpu_count()} cores"
    )
    print(
        f"CPU per mail     raw {1000 * raw['cpu_seconds'] / raw['mails']:.1f} ms, trace off "
        f"{1000 * untraced['cpu_seconds'] / untraced['mails']:.1f} ms, mailbot intake "
        f"process {1000 * ours['cpu_seconds'] / ours['mails']:.1f} ms (its checkpointer "
        f"thread {1000 * ours['checkpoint_cpu_seconds'] / ours['mails']:.1f} ms)"
    )
    per_mail = {verb: n / ours["mails"] for verb, n in sorted(ours["statements"].items())}
    print(
        f"SQL per mail     {sum(per_mail.values()):.1f} statements: "
        + ", ".join(f"{verb} {n:.2f}" for verb, n in per_mail.items())
    )
    print(f"delivery pass    {ours['sent']} mails sent in {ours['dispatch_seconds']:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
