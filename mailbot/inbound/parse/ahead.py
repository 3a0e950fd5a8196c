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
# Mails per round trip to the worker (at most). One mail a round trip starved it: the
# executor's thread in this process that hands out work and takes back results waits for
# the GIL (held by intake for up to 5 ms at a time), and only two calls are queued ahead.
CHUNK = 8


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


def parse_chunk(raws: list[bytes]) -> list[Parsed]:
    """`parse_outcome` of each mail, in the worker: one round trip for several mails."""
    return [parse_outcome(raw) for raw in raws]


def _chunks(items: list[FetchedMail], size: int) -> list[list[FetchedMail]]:
    """Chunks of 1, 2, 4, ... up to `size` mails: the first outcome is ready after one
    mail's parse, and by then the worker is ahead (it parses faster than intake stores)."""
    chunks, start, step = [], 0, 1
    while start < len(items):
        chunks.append(items[start : start + step])
        start, step = start + step, min(step * 2, size)
    return chunks


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

    def __init__(self, workers: int = 1, min_batch: int = MIN_BATCH, chunk: int = CHUNK) -> None:
        self.workers = workers
        self.min_batch = min_batch
        self.chunk = chunk
        self.in_worker = 0  # mails the worker parsed (tests, benchmarks)
        self._pool: ProcessPoolExecutor | None = None

    def outcomes(self, items: Sequence[FetchedMail]) -> Iterator[Parsed | None]:
        """The parse outcome of each item, in order (None for an oversize mail, which is
        not parsed). Iterate it alongside the items: each outcome is ready when asked."""
        wanted = [item for item in items if item.oversize is None]
        if self.workers < 1 or len(wanted) < self.min_batch:
            for item in items:
                yield parse_outcome(item.raw) if item.oversize is None else None
            return
        chunks = _chunks(wanted, self.chunk)
        futures = self._submit(chunks)
        parsed = (  # lazy: a chunk's outcomes are waited for when its first mail is asked
            outcome
            for index, chunk in enumerate(chunks)
            for outcome in self._result(futures[index] if futures else None, chunk)
        )
        try:
            for item in items:
                yield None if item.oversize is not None else next(parsed)
        finally:  # a pass that stops early leaves no work queued for the worker
            for future in futures or ():
                future.cancel()

    def _result(
        self, future: Future[list[Parsed]] | None, chunk: Sequence[FetchedMail]
    ) -> list[Parsed]:
        if future is not None and self._pool is not None:
            try:
                outcomes = future.result()
            except BrokenProcessPool:
                log.warning("intake: the parse worker died; parsing in this process")
                self._discard()
            else:
                self.in_worker += len(outcomes)
                return outcomes
        return [parse_outcome(item.raw) for item in chunk]

    def _submit(self, chunks: list[list[FetchedMail]]) -> list[Future[list[Parsed]]] | None:
        try:
            if self._pool is None:
                context = multiprocessing.get_context("spawn")  # never fork a threaded daemon
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=context, initializer=_worker_start
                )
            pool = self._pool
            return [pool.submit(parse_chunk, [item.raw for item in chunk]) for chunk in chunks]
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
