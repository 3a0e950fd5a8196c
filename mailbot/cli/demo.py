"""`mailbot demo`: needs no config; its packages (pymap, aiosmtpd) are an optional extra."""

from __future__ import annotations

import argparse
import sys


def demo(args: argparse.Namespace) -> int:
    from mailbot.demo import run_demo

    return run_demo(sys.stdout, keep=args.keep)
