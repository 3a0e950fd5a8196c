"""Parsing ahead on the second core: while intake stores one mail of a batch, a worker
process parses the next ones. Parsing is pure (bytes in, an `InboundMail` out), so it is
the part of intake that can leave the process holding the database transaction.

A batch smaller than `min_batch` (the daemon's usual one or two new mails) is parsed in
the calling process: no latency is added to a receipt. When the worker dies (the
operating system killed it, a parser bug crashed the interpreter), the rest of the batch
is parsed in the calling process, as without a worker, and the next batch starts a new
worker: nothing is lost and nothing is parsed differently."""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from mailbot.domain.model import FetchedMail, InboundMail
from mailbot.inbound.parse.errors import ParseError
from mailbot.inbound.parse.mail import parse_mail

log = logging.getLogger(__name__)

MIN_BATCH = 16  # mails: below this a worker process costs more than it saves


@dataclass(frozen=True)
class ParseFailure:
    """Why a mail could not be parsed: not a mail at all (`crashed` False), or a bug the
    mail triggered in the parser (`crashed` True, with the worker's traceback)."""

    reason: str
    crashed: bool = False
    trace: str = ""


Parsed = InboundMail | ParseFailure


def parse_outcome(raw: bytes) -> Parsed:
    """`parse_mail` with its failures as values, so that they cross a process boundary."""
    try:
        return parse_mail(raw)
    except ParseError as exc:
        return ParseFailure(str(exc))
    except Exception as exc:  # noqa: BLE001 - the parser's bug, not the mail's: quarantine it
        return ParseFailure(f"parser crashed: {exc!r}", crashed=True, trace=traceback.format_exc())


def _worker_start() -> None:
    """In the worker: leave stopping to the daemon (it finishes the mail in hand on
    SIGTERM, then shuts the worker down), and exit when the daemon is gone, also after a
    kill -9, so that no orphan holds its memory or its output."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    sentinel = parent.sentinel

    def exit_with_parent() -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(0)

    threading.Thread(target=exit_with_parent, name="exit-with-parent", daemon=True).start()


class ParseAhead:
    """Parses the mails of a batch in one worker process, in order, ahead of the caller."""

    def __init__(self, workers: int = 1, min_batch: int = MIN_BATCH) -> None:
        self.workers = workers
        self.min_batch = min_batch
        self.in_worker = 0  # mails the worker parsed (tests, benchmarks)
        self._pool: ProcessPoolExecutor | None = None

    def outcomes(self, items: Sequence[FetchedMail]) -> Iterator[Parsed | None]:
        """The parse outcome of each item, in order (None for an oversize mail, which is
        not parsed). Iterate it alongside the items: each outcome is ready when asked."""
        wanted = [item.oversize is None for item in items]
        if self.workers < 1 or sum(wanted) < self.min_batch:
            for item, parse in zip(items, wanted, strict=True):
                yield parse_outcome(item.raw) if parse else None
            return
        futures = self._submit(items, wanted) or {}
        try:
            for index, item in enumerate(items):
                yield self._result(futures.get(index), item) if wanted[index] else None
        finally:  # a pass that stops early leaves no work queued for the worker
            for future in futures.values():
                future.cancel()

    def _result(self, future: Future[Parsed] | None, item: FetchedMail) -> Parsed:
        if future is not None and self._pool is not None:
            try:
                outcome = future.result()
            except BrokenProcessPool:
                log.warning("intake: the parse worker died; parsing in this process")
                self._discard()
            else:
                self.in_worker += 1
                return outcome
        return parse_outcome(item.raw)

    def _submit(
        self, items: Sequence[FetchedMail], wanted: list[bool]
    ) -> dict[int, Future[Parsed]] | None:
        try:
            if self._pool is None:
                context = multiprocessing.get_context("spawn")  # never fork a threaded daemon
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=context, initializer=_worker_start
                )
            pool = self._pool
            return {
                index: pool.submit(parse_outcome, item.raw)
                for index, (item, parse) in enumerate(zip(items, wanted, strict=True))
                if parse
            }
        except (BrokenProcessPool, OSError) as exc:
            log.warning("intake: no parse worker (%s); parsing in this process", exc)
            self._discard()
            return None

    def _discard(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
