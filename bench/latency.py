"""Benchmark: time from APPEND in the inbox to the receipt at the SMTP server.

    .venv/bin/python bench/latency.py --mails 100 --mode idle
    .venv/bin/python bench/latency.py --mails 100 --mode poll --poll-interval 2

Starts a private Dovecot and an aiosmtpd sink (the test suite's, tests/harness/), runs
the real `mailbot run` daemon against them with SQLite, appends the mails one at a time
and waits for each receipt (receipt limits raised: the mails all come from one domain).
Prints p50, p95 and max in seconds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from harness import DovecotServer, SmtpSink
from support.app import NO_RECEIPT_LIMITS, write_config


def mail(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Burger {n} <burger{n}@burger.example>"
    msg["To"] = "klachten@gemeente.example"
    msg["Subject"] = f"Klacht {n}"
    msg["Message-ID"] = f"<latency-{n}-{time.time_ns()}@burger.example>"
    msg.set_content("Goedemiddag,\n\nIk wacht al drie weken op een antwoord.\n")
    return msg.as_bytes(policy=SMTP)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mails", type=int, default=100)
    parser.add_argument("--mode", choices=["idle", "poll"], default="idle")
    parser.add_argument("--poll-interval", type=float, default=2.0)
    args = parser.parse_args(argv)

    dovecot, sink = DovecotServer(), SmtpSink()
    dovecot.start()
    sink.start()
    latencies: list[float] = []
    try:
        box = dovecot.new_mailbox()
        with tempfile.TemporaryDirectory() as tmp:
            config = write_config(
                Path(tmp),
                box,
                sink,
                f"sqlite:///{tmp}/bench.sqlite3",
                mailbox={"poll_interval": args.poll_interval if args.mode == "poll" else 60.0},
                daemon={"idle": args.mode == "idle"},
                # Every mail comes from @burger.example: the per-domain limit (10 an
                # hour by default) would stop receipts after the tenth.
                receipts=NO_RECEIPT_LIMITS,
            )
            log = Path(tmp) / "daemon.log"
            with log.open("wb") as out:
                daemon = subprocess.Popen(
                    [sys.executable, "-m", "mailbot", "--config", str(config), "run"],
                    stderr=out,
                    stdout=subprocess.DEVNULL,
                )
            try:
                deadline = time.monotonic() + 30
                while "is now the active one" not in log.read_text():
                    if time.monotonic() > deadline:
                        raise SystemExit(f"daemon did not start:\n{log.read_text()}")
                    time.sleep(0.05)
                time.sleep(1.5)  # first pass done, IDLE in place
                rng = random.Random(42)
                for n in range(args.mails):
                    address = f"burger{n}@burger.example"
                    # Mail arrives at any moment of the polling cycle, not just after a pass.
                    time.sleep(rng.uniform(0, args.poll_interval if args.mode == "poll" else 0.2))
                    started = time.monotonic()
                    box.append("INBOX", mail(n))
                    while not any(address in m.rcpt_tos for m in sink.messages):
                        if time.monotonic() - started > 120:
                            raise SystemExit(f"no receipt for mail {n}:\n{log.read_text()}")
                        time.sleep(0.005)
                    latencies.append(time.monotonic() - started)
            finally:
                daemon.terminate()
                daemon.wait(timeout=30)
    finally:
        sink.stop()
        dovecot.stop()
    ordered = sorted(latencies)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    mode = "idle" if args.mode == "idle" else f"poll every {args.poll_interval:g}s"
    print(
        f"APPEND -> receipt at the SMTP server, {len(ordered)} mails, {mode}: "
        f"p50 {statistics.median(ordered):.2f} s  p95 {p95:.2f} s  max {ordered[-1]:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
