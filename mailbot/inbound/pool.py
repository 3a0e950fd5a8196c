"""Parsing a batch of mail on the second core while intake does the database work.

Parsing (mail-parser plus our repairs) is the largest piece of work per mail that needs
nothing from the database. For a batch of at least `MIN_BATCH` mails, `ParsePool.submit`
hands every raw message to one worker process (spawned once, kept for the next batches)
and `result` returns it parsed, in the same form as parsing here would: the InboundMail,
or the exception parse_mail raised. A worker that dies (killed, out of memory) costs
nothing but speed: that mail and the rest are parsed in this process again.
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from mailbot.domain.identity import bounded_mail
from mailbot.domain.model import InboundMail
from mailbot.inbound.parse import ParseError, parse_mail

log = logging.getLogger(__name__)

MIN_BATCH = 20  # below this the round trip to the worker is not worth it (IDLE: 1 mail)


@dataclass(frozen=True)
class Parsed:
    """What parsing one raw message gave: the mail, or why there is none."""

    mail: InboundMail | None
    not_a_mail: str | None = None  # ParseError's reason
    crash: str | None = None  # repr() of any other exception: a parser bug


def parse(raw: bytes) -> Parsed:
    """parse_mail and bounded_mail, with every failure as a value (it crosses processes)."""
    try:
        return Parsed(bounded_mail(parse_mail(raw)))
    except ParseError as exc:
        return Parsed(None, not_a_mail=str(exc))
    except Exception as exc:  # noqa: BLE001 - a parser bug: this one mail goes to quarantine
        return Parsed(None, crash=repr(exc))


class ParsePool:
    def __init__(self) -> None:
        self._executor: ProcessPoolExecutor | None = None
        self._futures: dict[int, Future[Parsed]] = {}

    def submit(self, uids_and_raws: list[tuple[int, bytes]]) -> None:
        """Start parsing a batch in the worker (nothing for a small batch)."""
        self._futures.clear()
        if len(uids_and_raws) < MIN_BATCH:
            return
        try:
            if self._executor is None:
                # spawn, not fork: the daemon has threads (scheduler, delivery).
                context = multiprocessing.get_context("spawn")
                self._executor = ProcessPoolExecutor(max_workers=1, mp_context=context)
            for uid, raw in uids_and_raws:
                self._futures[uid] = self._executor.submit(parse, raw)
        except (BrokenProcessPool, RuntimeError, OSError) as exc:
            log.warning("intake: parsing in this process, the worker is gone: %s", exc)
            self._reset()

    def result(self, uid: int, raw: bytes) -> Parsed:
        """The parsed mail: from the worker when it was submitted, else parsed here."""
        future = self._futures.pop(uid, None)
        if future is not None:
            try:
                return future.result()
            except BrokenProcessPool as exc:
                log.warning("intake: parse worker died, parsing in this process: %s", exc)
                self._reset()
        return parse(raw)

    def _reset(self) -> None:
        self._futures.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def close(self) -> None:
        self._reset()
