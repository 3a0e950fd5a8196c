"""One IMAP account on the private Dovecot, seen from a test: arrange and inspect it."""

from __future__ import annotations

import contextlib
import datetime as dt
import ssl
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from imapclient import IMAPClient


@dataclass(frozen=True)
class StoredMessage:
    """One message as the IMAP server holds it."""

    uid: int
    flags: tuple[str, ...]
    internaldate: dt.datetime  # aware, UTC
    raw: bytes


class Mailbox:
    """One IMAP account on the private Dovecot, with helpers to arrange and inspect it.

    Every helper opens its own short connection, so tests never share IMAP state (the
    selected folder, pending EXPUNGEs) with the code under test.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        password: str,
        ssl_context: ssl.SSLContext | None = None,
        home: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.ssl_context = ssl_context
        self.use_ssl = ssl_context is not None
        self.home = home

    def __repr__(self) -> str:
        return f"<Mailbox {self.username}@{self.host}:{self.port} ssl={self.use_ssl}>"

    @contextlib.contextmanager
    def connect(self) -> Iterator[IMAPClient]:
        """A logged-in IMAPClient, logged out again afterwards."""
        client = IMAPClient(
            self.host,
            self.port,
            ssl=self.use_ssl,
            ssl_context=self.ssl_context,
            timeout=10,
        )
        try:
            client.login(self.username, self.password)
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()
            with contextlib.suppress(Exception):
                client.shutdown()

    def append(
        self,
        folder: str,
        raw: bytes,
        when: dt.datetime | None = None,
        flags: Iterable[str | bytes] = (),
    ) -> int:
        """APPEND raw to folder and return its UID.

        when sets INTERNALDATE (the day the server "received" the mail); it must be aware.
        Whatever line endings raw has, Dovecot hands the message back with CRLF.
        """
        if when is not None and when.tzinfo is None:
            raise ValueError("append(when=...) needs an aware datetime")
        with self.connect() as client:
            response = client.append(folder, raw, flags=tuple(flags), msg_time=when)
        # RFC 4315 (UIDPLUS): "[APPENDUID <uidvalidity> <uid>] ..."
        text = response.decode() if isinstance(response, bytes) else str(response)
        if "APPENDUID" not in text:
            raise AssertionError(f"APPEND gave no APPENDUID: {text!r}")
        return int(text.split("APPENDUID", 1)[1].split("]", 1)[0].split()[1])

    def create(self, folder: str) -> None:
        with self.connect() as client:
            client.create_folder(folder)

    def folders(self) -> list[str]:
        with self.connect() as client:
            return sorted(name for _flags, _sep, name in client.list_folders())

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with self.connect() as client:
            status = client.folder_status(folder, [b"UIDVALIDITY"])
        return int(status[b"UIDVALIDITY"])

    def uids(self, folder: str = "INBOX") -> list[int]:
        with self.connect() as client:
            client.select_folder(folder, readonly=True)
            return sorted(int(uid) for uid in client.search("ALL"))

    def messages(self, folder: str = "INBOX") -> list[StoredMessage]:
        """Every message in folder, in UID order, without setting \\Seen."""
        with self.connect() as client:
            client.normalise_times = False  # see _imap_date_to_utc
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            if not uids:
                return []
            data = client.fetch(uids, ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])
        result = []
        for uid in sorted(data):
            item = data[uid]
            result.append(
                StoredMessage(
                    uid=int(uid),
                    flags=tuple(
                        f.decode() if isinstance(f, bytes) else str(f) for f in item[b"FLAGS"]
                    ),
                    internaldate=_imap_date_to_utc(item[b"INTERNALDATE"]),
                    raw=bytes(item[b"BODY[]"]),
                )
            )
        return result

    def fetch_all(self, folder: str = "INBOX") -> list[bytes]:
        """The raw bytes of every message in folder, in UID order."""
        return [m.raw for m in self.messages(folder)]


def _imap_date_to_utc(value: dt.datetime) -> dt.datetime:
    # With normalise_times = False imapclient keeps the offset the server sent. Its
    # default (naive local time) converts with the UTC offset in force *now*, so a date
    # on the other side of a daylight-saving switch comes back an hour off.
    if value.tzinfo is None:
        raise AssertionError(f"expected an aware INTERNALDATE, got {value!r}")
    return value.astimezone(dt.UTC)
