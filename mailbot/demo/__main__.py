"""`python -m mailbot.demo [--keep DIR]`: the demo without the `mailbot` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mailbot.demo import run_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mailbot.demo",
        description="Run mailbot against an in-process IMAP server and SMTP sink with Dutch "
        "sample complaints, and show what the citizens and the coordinator receive.",
    )
    parser.add_argument(
        "--keep",
        metavar="DIR",
        type=Path,
        help="keep config.toml and mailbot.sqlite3 in DIR (new or empty) for "
        "`mailbot --config DIR/config.toml cases list`",
    )
    args = parser.parse_args(argv)
    return run_demo(sys.stdout, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
