"""An IMAP server (pymap, in memory) and an SMTP sink (aiosmtpd) inside this process.

Both run on one asyncio event loop in one background thread and listen on 127.0.0.1 on
ports the kernel picks (port 0), so nothing else on the machine can collide with them and
nothing is reachable from outside. The IMAP server knows one account, the complaints
mailbox; the SMTP sink accepts every mail, keeps it in memory and delivers nothing.

This module needs the optional packages of ``mailbot[demo]``; ``mailbot.demo`` imports it
only when the demo runs, so that ``mailbot`` itself works without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import ssl
import threading
from argparse import Namespace
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from importlib.metadata import version
from types import TracebackType

from aiosmtpd.smtp import SMTP, Envelope, Session
from proxyprotocol.reader import ProxyProtocolReader
from pymap.backend.dict import Config as DictConfig
from pymap.backend.dict import DictBackend, Login
from pymap.concurrent import Subsystem
from pymap.imap import IMAPServer
from pymap.user import Passwords, UserMetadata
from pysasl.hashing import BuiltinHash

LOCALHOST = "127.0.0.1"
START_TIMEOUT = 10.0  # seconds; the servers are up in a few milliseconds


class DemoServerError(RuntimeError):
    """The in-process servers did not start, or raised in their thread."""


@dataclass(frozen=True)
class ReceivedMail:
    """One mail the SMTP sink accepted: the envelope and the message as sent."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=email.policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)  # policy.default always builds these
        return parsed


def server_versions() -> dict[str, str]:
    """The versions of the servers' packages, for the demo's heading."""
    return {name: version(name) for name in ("pymap", "aiosmtpd")}


class _DemoImapConfig(DictConfig):
    @property
    def greeting(self) -> bytes:
        # pymap's greeting calls socket.getfqdn(), a DNS lookup that can hang for seconds
        # on a machine without network; the demo needs no host name.
        return b"mailbot demo IMAP server (pymap) ready"


def _imap_config(username: str, password: str) -> _DemoImapConfig:
    return _DemoImapConfig(
        # pymap reads these two attributes from its command line when not given below.
        Namespace(passlib_cfg=None, proxy_protocol=None),
        host=LOCALHOST,
        port=0,
        demo_data=False,
        demo_user=username,
        demo_password=password,
        # Plain IMAP on loopback, as mailbot's `security = "plain"` expects: no STARTTLS,
        # LOGIN allowed without TLS.
        tls_enabled=False,
        # An SSL context of our own, so that pymap does not read $CERT_FILE / $KEY_FILE.
        ssl_context=ssl.create_default_context(ssl.Purpose.CLIENT_AUTH),
        # Everything on the event loop: the default is a thread pool with an event loop
        # per thread, which would outlive the demo.
        subsystem=Subsystem.for_asyncio(),
        cpu_subsystem=Subsystem.for_asyncio(),
        # A throwaway password on loopback: 1000 PBKDF2 rounds instead of 500 000 keeps
        # each login at a millisecond instead of half a second.
        hash_context=BuiltinHash(rounds=1000),
        reject_dnsbl=False,
        invalid_user_sleep=0.0,
    )


class _Collector:
    """aiosmtpd handler: keep every message, accept every recipient."""

    def __init__(self, owner: DemoServers) -> None:
        self._owner = owner

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # decode_data=False (the default): original_content is the bytes as received.
        self._owner._keep(
            ReceivedMail(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                data=envelope.original_content or b"",
            )
        )
        return "250 2.0.0 Kept by the mailbot demo, not delivered"


class DemoServers:
    """The IMAP server and the SMTP sink, started and stopped together.

    Use as a context manager; ``imap_port`` and ``smtp_port`` are known once it is entered.
    ``stop()`` closes both servers, ends their connections and joins the thread.
    """

    def __init__(self, *, username: str, password: str) -> None:
        self.host = LOCALHOST
        self.username = username
        self.imap_port = 0
        self.smtp_port = 0
        self._password = password
        self._received: list[ReceivedMail] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> DemoServers:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        # A daemon thread, so that a bug here can never keep the process alive; stop()
        # joins it in the normal case.
        self._thread = threading.Thread(target=self._run, name="mailbot-demo-servers", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            self.stop()
            raise DemoServerError(f"the demo servers did not start within {START_TIMEOUT:.0f}s")
        if self._error is not None:
            self.stop()
            raise DemoServerError(f"the demo servers did not start: {self._error!r}") from (
                self._error
            )

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            loop, stop = self._loop, self._stop
            if loop is not None and stop is not None and not loop.is_closed():
                # RuntimeError: the loop closed in the meantime, so the thread is ending.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(stop.set)
            thread.join(START_TIMEOUT)

    def raise_errors(self) -> None:
        """Raise what went wrong in the server thread, if anything did."""
        if self._error is not None:
            raise DemoServerError(f"the demo servers failed: {self._error!r}") from self._error

    # -- what the SMTP sink received -------------------------------------------------------

    @property
    def received(self) -> list[ReceivedMail]:
        """Every mail the sink accepted so far, in order of arrival.

        smtplib's sendmail() returns only after the sink answered 250, which it does after
        keeping the mail: whatever mailbot has sent is here, no waiting needed.
        """
        with self._lock:
            return list(self._received)

    def _keep(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._received.append(mail)

    # -- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            # asyncio.run() also cancels connection tasks still open at the end and closes
            # the loop, so nothing is left behind when the thread ends.
            asyncio.run(self._serve())
        # Whatever it is, the main thread must hear of it: start() and raise_errors() raise it.
        except BaseException as exc:  # noqa: BLE001
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        config = _imap_config(self.username, self._password)
        # pymap finds its concurrency subsystem in a context variable; connection tasks
        # copy the context of the code that started the server, i.e. this one.
        config.apply_context()
        login = Login(config)
        hashed = await Passwords(config).hash_password(self._password)
        await login.demo_user_identity.set(UserMetadata(config, self.username, password=hashed))
        backend = DictBackend(login, config)
        # The PROXY protocol reader (no-op here) is how pymap's own IMAPService wraps
        # IMAPServer; we start the asyncio server ourselves to bind port 0 and learn the port.
        imap_callback = ProxyProtocolReader(config.proxy_protocol).get_callback(
            IMAPServer(backend.login, config)
        )
        imap = await asyncio.start_server(imap_callback, host=self.host, port=0)

        collector = _Collector(self)
        smtp = await loop.create_server(
            # hostname given: aiosmtpd would otherwise look up our FQDN (DNS) per connection
            lambda: SMTP(collector, hostname="localhost", ident="mailbot demo sink", loop=loop),
            host=self.host,
            port=0,
        )
        async with imap, smtp:
            self.imap_port = int(imap.sockets[0].getsockname()[1])
            self.smtp_port = int(smtp.sockets[0].getsockname()[1])
            self._loop, self._stop = loop, stop
            self._ready.set()
            await stop.wait()
