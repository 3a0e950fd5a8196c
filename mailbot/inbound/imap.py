"""The complaints mailbox over IMAP (imapclient).

Messages are fetched with BODY.PEEK[] so that reading never sets \\Seen (people read the
shared mailbox too, and mailbot processes every message whatever its flags), in batches
to bound memory, and only moved away after the database has committed them.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import imapclient
from imapclient.exceptions import IMAPClientError, LoginError

from mailbot.auth.tokens import access_token
from mailbot.domain.errors import (
    MailbotError,
    MailboxLoginError,
    MailboxUnavailableError,
    PermanentError,
)
from mailbot.domain.model import FetchedMail
from mailbot.tls import security_mismatch, tls_context

if TYPE_CHECKING:
    from mailbot.auth.tokens import TokenProvider

log = logging.getLogger(__name__)

SENT_FLAG = "\\Sent"  # RFC 6154 SPECIAL-USE attribute of the folder sent mail goes to
# Tried in this order when no folder has the \Sent attribute (compared without case).
SENT_NAMES = ("Sent", "Sent Items", "Verzonden items", "Verzonden berichten", "INBOX.Sent")


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: str  # tls | starttls | plain
    username: str
    password: str
    timeout: float
    ca_file: Path | None = None
    # Log in with SASL XOAUTH2 and this provider's access tokens; None: LOGIN with password.
    token_provider: TokenProvider | None = None
    # Mail larger than this is not downloaded: only its header block, marked `oversize`.
    max_size: int | None = None


class ImapMailbox:
    """One logged-in IMAP connection. Use as a context manager."""

    def __init__(self, settings: ImapSettings) -> None:
        self._settings = settings
        self._client: Any = None
        self._selected: str | None = None
        self._uidvalidity = 0

    def __enter__(self) -> ImapMailbox:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def capabilities(self) -> list[str]:
        return [c.decode() if isinstance(c, bytes) else str(c) for c in self._client.capabilities()]

    def connect(self) -> None:
        s = self._settings
        # The token first: a provider that fails leaves no connection behind.
        token = self._oauth_token() if s.token_provider is not None else None
        try:
            client = imapclient.IMAPClient(
                s.host,
                port=s.port,
                ssl=s.security == "tls",
                ssl_context=tls_context(s.ca_file) if s.security == "tls" else None,
                timeout=s.timeout,
            )
        except ssl.SSLCertVerificationError as exc:
            raise PermanentError(
                f"IMAP {s.host}:{s.port}: TLS certificate not trusted ({exc.verify_message}); "
                "set [mailbox] ca_file for a private CA"
            ) from exc
        except (OSError, IMAPClientError) as exc:
            mismatch = security_mismatch(
                exc, host=s.host, port=s.port, security=s.security, protocol="IMAP"
            )
            if mismatch:
                raise PermanentError(f"IMAP {s.host}:{s.port}: {mismatch}") from exc
            raise MailboxUnavailableError(f"IMAP {s.host}:{s.port}: cannot connect: {exc}") from exc
        _settle(client)
        try:
            if s.security == "starttls":
                client.starttls(tls_context(s.ca_file))
            if token is not None:
                self._oauth2_login(client, token)
            else:
                client.login(s.username, s.password)
        except LoginError as exc:
            refused = self._oauth_refused(client, exc) if token is not None else None
            _safe_logout(client)
            raise MailboxLoginError(
                refused
                or f"IMAP {s.host}:{s.port}: login refused for user {s.username!r}: check "
                "[mailbox] username and password"
            ) from exc
        except MailbotError:  # a second token could not be had (_oauth2_login)
            _safe_logout(client)
            raise
        except ssl.SSLCertVerificationError as exc:
            _safe_logout(client)
            raise PermanentError(
                f"IMAP {s.host}:{s.port}: TLS certificate not trusted ({exc.verify_message})"
            ) from exc
        except (OSError, IMAPClientError) as exc:
            _safe_logout(client)
            raise MailboxUnavailableError(f"IMAP {s.host}:{s.port}: {exc}") from exc
        self._client = client
        log.debug(
            "imap: logged in to %s:%s as %s%s",
            s.host,
            s.port,
            s.username,
            " (XOAUTH2)" if token is not None else "",
        )

    # -- OAuth2 ------------------------------------------------------------------------------

    def _oauth_token(self) -> str:
        s = self._settings
        assert s.token_provider is not None
        where = f"IMAP {s.host}:{s.port}"
        return access_token(
            s.token_provider, where, s.username, MailboxLoginError, MailboxUnavailableError
        )

    def _oauth2_login(self, client: Any, token: str) -> None:
        """AUTHENTICATE XOAUTH2; once more with a new token when a cached one is refused."""
        s = self._settings
        assert s.token_provider is not None
        try:
            client.oauth2_login(s.username, token)
        except LoginError:
            s.token_provider.invalidate()  # revoked or expired early: fetch a new one
            fresh = self._oauth_token()
            if fresh == token:
                raise
            client.oauth2_login(s.username, fresh)

    def _oauth_refused(self, client: Any, exc: LoginError) -> str:
        s = self._settings
        assert s.token_provider is not None
        s.token_provider.invalidate()
        try:
            offered = client.has_capability("AUTH=XOAUTH2")
        except (OSError, IMAPClientError):
            offered = True
        if not offered:
            return (
                f"IMAP {s.host}:{s.port}: the server does not offer AUTH=XOAUTH2; "
                '[mailbox] auth = "xoauth2" needs a server that takes OAuth2 access tokens'
            )
        return (
            f"IMAP {s.host}:{s.port}: the OAuth2 access token was refused for user "
            f"{s.username!r} ({exc}): {s.token_provider.refused_hint('imap', s.username)}"
        )

    def close(self) -> None:
        if self._client is not None:
            _safe_logout(self._client)
            self._client = None

    def _call(self, what: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (TimeoutError, OSError, IMAPClientError) as exc:
            raise MailboxUnavailableError(f"IMAP {what}: {exc}") from exc

    def list_folders(self) -> list[str]:
        return [name for _flags, _sep, name in self._call("LIST", self._client.list_folders)]

    def find_sent_folder(self) -> str | None:
        """The folder the server marks \\Sent (RFC 6154 SPECIAL-USE), else the first of
        SENT_NAMES that exists; None when there is neither."""
        listing = self._call("LIST", self._client.list_folders)
        return pick_sent_folder([(flags, name) for flags, _sep, name in listing])

    def ensure_folders(self, folders: Sequence[str]) -> None:
        existing = set(self.list_folders())
        for folder in folders:
            if folder not in existing:
                log.info("imap: creating folder %s", folder)
                self._call("CREATE", self._client.create_folder, folder)

    def open_folder(self, folder: str) -> tuple[int, list[int]]:
        info = self._call("SELECT", self._client.select_folder, folder)
        self._selected = folder
        uidvalidity = self._uidvalidity = int(info[b"UIDVALIDITY"])
        uids = sorted(int(u) for u in self._call("SEARCH", self._client.search, ["ALL"]))
        return uidvalidity, uids

    def uids_before(self, folder: str, moment: datetime) -> list[int]:
        """UIDs in `folder` that arrived before the day of `moment` (IMAP SEARCH BEFORE
        compares INTERNALDATE by day, RFC 3501 section 6.4.4)."""
        info = self._call("SELECT", self._client.select_folder, folder)
        self._selected, self._uidvalidity = folder, int(info[b"UIDVALIDITY"])
        found = self._call("SEARCH", self._client.search, ["BEFORE", moment.date()])
        return sorted(int(u) for u in found)

    def fetch(self, folder: str, uids: Sequence[int]) -> Iterator[FetchedMail]:
        if self._selected != folder:
            raise RuntimeError(f"fetch from {folder} while {self._selected} is selected")
        uidvalidity = self._uidvalidity
        wanted, oversize = list(uids), {}
        limit = self._settings.max_size
        if limit is not None:
            sizes = self._call("FETCH", self._client.fetch, wanted, ["RFC822.SIZE"])
            oversize = {
                uid: int(data[b"RFC822.SIZE"])
                for uid, data in sizes.items()
                if int(data.get(b"RFC822.SIZE", 0)) > limit
            }
        full = [u for u in wanted if u not in oversize]
        response = {}
        if full:
            response = self._call(
                "FETCH", self._client.fetch, full, ["BODY.PEEK[]", "INTERNALDATE"]
            )
        if oversize:  # memory stays bounded: only the header block of a huge mail
            heads = self._call(
                "FETCH", self._client.fetch, list(oversize), ["BODY.PEEK[HEADER]", "INTERNALDATE"]
            )
            response.update({u: {**d, b"BODY[]": d.get(b"BODY[HEADER]")} for u, d in heads.items()})
        for uid in uids:
            data = response.get(uid)
            if data is None:  # expunged meanwhile by someone else
                continue
            raw = data.get(b"BODY[]")
            arrived = data.get(b"INTERNALDATE")
            if raw is None:
                continue
            yield FetchedMail(
                folder=folder,
                uidvalidity=uidvalidity,
                uid=uid,
                raw=bytes(raw),
                arrived_at=_aware_utc(arrived),
                oversize=oversize.get(uid),
            )

    def delete_by_message_id(self, folder: str, message_ids: Sequence[str]) -> int:
        """Remove the messages with these Message-IDs from `folder` (the retention period
        is over); returns how many were removed. UID EXPUNGE (RFC 4315) touches only them."""
        if not message_ids or folder not in self.list_folders():
            return 0
        self._call("SELECT", self._client.select_folder, folder)
        self._selected = folder
        uids: set[int] = set()
        for message_id in message_ids:
            found = self._call(
                "SEARCH", self._client.search, ["HEADER", "Message-ID", f"<{message_id}>"]
            )
            uids.update(int(u) for u in found)
        return self._expunge(uids)

    def delete_mentioning(self, folder: str, text: str) -> int:
        """Remove every message of `folder` whose headers or body contain `text` (an erasure
        request: also mail without a usable Message-ID); returns how many were removed."""
        if folder not in self.list_folders():
            return 0
        self._call("SELECT", self._client.select_folder, folder)
        self._selected = folder
        found = self._call("SEARCH", self._client.search, ["TEXT", text])
        return self._expunge({int(u) for u in found})

    def _expunge(self, uids: set[int]) -> int:
        if not uids:
            return 0
        ordered = sorted(uids)
        self._call("STORE", self._client.add_flags, ordered, [imapclient.DELETED])
        if "UIDPLUS" in set(self.capabilities):
            self._call("UID EXPUNGE", self._client.uid_expunge, ordered)
        else:
            self._call("EXPUNGE", self._client.expunge)
        return len(ordered)

    def has_idle(self) -> bool:
        return "IDLE" in self.capabilities

    def watch(self, folder: str) -> None:
        """Select `folder` read-only and start IDLE on it (RFC 2177)."""
        self._call("EXAMINE", self._client.select_folder, folder, readonly=True)
        self._selected = None  # read-only: not for fetch or move
        self._call("IDLE", self._client.idle)

    def wait_for_change(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds in IDLE; True when the server reported new or
        removed messages (EXISTS / EXPUNGE / RECENT)."""
        responses = self._call("IDLE", self._client.idle_check, timeout=timeout)
        return any(
            isinstance(r, tuple) and len(r) > 1 and r[1] in (b"EXISTS", b"RECENT", b"EXPUNGE")
            for r in responses
        )

    def renew_idle(self) -> None:
        """End and restart IDLE: servers drop an IDLE that lasts longer than 30 minutes
        (RFC 2177 asks clients to re-issue it at least every 29 minutes)."""
        self._call("DONE", self._client.idle_done)
        self._call("IDLE", self._client.idle)

    def move(self, uids: Sequence[int], destination: str) -> None:
        if not uids:
            return
        caps = set(self.capabilities)
        if "MOVE" in caps:
            self._call("MOVE", self._client.move, list(uids), destination)
            return
        # RFC 4315 (UIDPLUS): UID EXPUNGE removes only these UIDs, never a message that
        # somebody else flagged \Deleted in the shared mailbox.
        self._call("COPY", self._client.copy, list(uids), destination)
        self._call("STORE", self._client.add_flags, list(uids), [imapclient.DELETED])
        if "UIDPLUS" in caps:
            self._call("UID EXPUNGE", self._client.uid_expunge, list(uids))
        else:
            self._call("EXPUNGE", self._client.expunge)


def pick_sent_folder(listing: Sequence[tuple[Sequence[bytes | str], str]]) -> str | None:
    """From LIST answers (attributes, name): the \\Sent folder, else a commonly used name."""
    for flags, name in listing:
        if any(_text(flag).lower() == SENT_FLAG.lower() for flag in flags):
            return name
    by_name = {name.lower(): name for _flags, name in listing}
    return next((by_name[n.lower()] for n in SENT_NAMES if n.lower() in by_name), None)


def _text(flag: bytes | str) -> str:
    return flag.decode("ascii", "replace") if isinstance(flag, bytes) else flag


def _aware_utc(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _settle(client: Any) -> None:
    """Two imapclient defaults changed on a new connection."""
    # Aware datetimes for INTERNALDATE instead of naive local time.
    client.normalise_times = False
    # imapclient sets imaplib's debug level to 5 and hands its trace to a logger; at 5
    # imaplib formats every response with its literals, the mails, before the logger
    # drops it: a repr of 17 MB for a FETCH of 200 mails, 80 % of the fetch's CPU time,
    # and citizens' mail in the journal at `level = "debug"`. At 4 the trace keeps the
    # commands and response lines, without the literals.
    client._imap.debug = 4


def _safe_logout(client: Any) -> None:
    try:
        client.logout()
    except (OSError, IMAPClientError):
        try:
            client.shutdown()
        except OSError:
            pass
