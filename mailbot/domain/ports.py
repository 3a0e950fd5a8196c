"""What the services need from the outside world, written as protocols so that the
adapters (IMAP, SMTP, clock) can be swapped in tests and in the composition root."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Protocol

from mailbot.domain.model import FetchedMail

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class MailSender(Protocol):
    def send(self, mail_from: str, recipients: Sequence[str], content: bytes) -> None:
        """Deliver one message; raise SendTemporaryError or SendPermanentError."""

    def kept_open(self) -> AbstractContextManager[None]:
        """One connection for every `send` inside (a delivery pass)."""


class Mailbox(Protocol):
    def find_sent_folder(self) -> str | None:
        """The server's folder for sent mail (SPECIAL-USE \\Sent or a common name), or None."""

    def ensure_folders(self, folders: Sequence[str]) -> None: ...

    def open_folder(self, folder: str) -> tuple[int, list[int]]:
        """Select `folder`; return its UIDVALIDITY and the UIDs in it, ascending."""

    def fetch(self, folder: str, uids: Sequence[int]) -> Iterator[FetchedMail]: ...

    def uids_before(self, folder: str, moment: datetime) -> list[int]:
        """UIDs that arrived before the day of `moment`."""

    def move(self, uids: Sequence[int], destination: str) -> None: ...
