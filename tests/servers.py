"""Real servers for the integration tests: a private Dovecot, an aiosmtpd sink, PostgreSQL.

Nothing here is faked. Each server listens on 127.0.0.1 on a port chosen at runtime, is
started and stopped by a pytest fixture (see conftest.py), and raises with its own log
when it does not come up.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import email.policy
import grp
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, Literal

import psycopg
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session
from imapclient import IMAPClient
from psycopg import sql

LOCALHOST = "127.0.0.1"

# ---------------------------------------------------------------------------------------
# helpers


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port that was free a moment ago.

    There is a small race between closing this socket and the server binding the port;
    the servers below retry with another port when the bind fails.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _read_tail(path: Path, limit: int = 20_000) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return f"<{path} does not exist>"
    return data[-limit:].decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------------------
# Dovecot


class ServerStartError(RuntimeError):
    """A test server did not come up; the message carries its log."""


class ServerThreadError(RuntimeError):
    """Code in a test server's thread raised; __cause__ is the first such exception."""


@dataclass(frozen=True)
class TlsFiles:
    """Certificate material for the TLS variant, made with trustme."""

    ca_path: Path  # PEM of the test CA: give it to ssl.create_default_context(cafile=...)
    cert_path: Path  # server certificate chain for 127.0.0.1 and localhost
    key_path: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the test CA (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.ca_path))


def make_tls_files(directory: Path) -> TlsFiles:
    import trustme  # imported here so a missing trustme only breaks the TLS tests

    ca = trustme.CA(organization_name="mailbot test CA")
    leaf = ca.issue_cert(LOCALHOST, "localhost")
    ca_path = directory / "ca.pem"
    cert_path = directory / "server-chain.pem"
    key_path = directory / "server-key.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    with cert_path.open("wb") as fh:
        for blob in leaf.cert_chain_pems:
            fh.write(blob.bytes())
    leaf.private_key_pem.write_to_path(str(key_path))
    key_path.chmod(0o600)
    return TlsFiles(ca_path=ca_path, cert_path=cert_path, key_path=key_path)


def _find_dovecot() -> str:
    found = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if os.access("/usr/sbin/dovecot", os.X_OK) else None
    )
    if found is None:
        raise ServerStartError(
            "dovecot is not installed: run scripts/test (it installs dovecot-imapd) or "
            "`apt-get install dovecot-imapd` with a policy-rc.d that exits 101"
        )
    return found


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


class DovecotServer:
    """A private Dovecot instance (its own config, sockets, state, logs and maildirs).

    Runs in the foreground (`dovecot -F`) as our child, in its own process group, with
    a parent-death signal so that it cannot outlive a killed test run.
    """

    #: accounts that exist from the start; tests normally use new_mailbox() instead
    STATIC_USERS: ClassVar[dict[str, str]] = {"klachten": "geheim", "collega": "geheim2"}
    #: password of every account made by new_mailbox()
    NEW_USER_PASSWORD = "geheim"
    SEPARATOR = "/"
    SPECIAL_SENT = "Verzonden berichten"  # LIST gives it the \\Sent attribute (RFC 6154)

    def __init__(self, *, tls: bool = False) -> None:
        self.tls = tls
        self.host = LOCALHOST
        self.port = 0  # plain IMAP, or implicit TLS (imaps) when tls=True
        self.starttls_port: int | None = None  # tls=True: a port 143-style listener (STARTTLS)
        self.tls_files: TlsFiles | None = None
        self.root = Path(tempfile.mkdtemp(prefix="mailbot-dovecot-"))
        self.config_path = self.root / "dovecot.conf"
        self.log_path = self.root / "dovecot.log"
        self.stderr_path = self.root / "stderr.log"
        self.passwd_path = self.root / "passwd"
        self.home_root = self.root / "home"
        self._proc: subprocess.Popen[bytes] | None = None
        self._counter = 0
        self._lock = threading.Lock()
        if os.geteuid() == 0:
            # Dovecot refuses mail access as root: the maildirs belong to `mail`.
            account = pwd.getpwnam("mail")
            self._internal_user: str | None = None
        else:  # rootless Dovecot: everything runs as us
            account = pwd.getpwuid(os.geteuid())
            self._internal_user = account.pw_name
        self.mail_uid = account.pw_uid
        self.mail_gid = account.pw_gid

    # -- public ------------------------------------------------------------------------

    @property
    def ca_path(self) -> Path:
        if self.tls_files is None:
            raise AttributeError("this Dovecot runs without TLS; use the dovecot_tls fixture")
        return self.tls_files.ca_path

    def client_ssl_context(self) -> ssl.SSLContext | None:
        return self.tls_files.client_context() if self.tls_files else None

    def start(self, attempts: int = 3) -> None:
        # 0o711: the `mail` user must be able to walk to its home directory.
        self.root.chmod(0o711)
        self.home_root.mkdir(mode=0o711, exist_ok=True)
        (self.root / "run").mkdir(exist_ok=True)
        (self.root / "state").mkdir(exist_ok=True)
        if self.tls:
            self.tls_files = make_tls_files(self.root)
        self._write_passwd()
        for name in self.STATIC_USERS:
            self._make_home(name)
        for attempt in range(1, attempts + 1):
            self.port = free_port()
            self.starttls_port = free_port() if self.tls else None
            self._write_config()
            try:
                self._launch()
                return
            except ServerStartError as exc:
                if attempt < attempts and "Address already in use" in str(exc):
                    continue
                raise

    def stop(self) -> None:
        """Kill the whole instance and delete its files.

        SIGKILL to the process group, not a graceful SIGTERM to the master: the master
        takes about 1.1 s to shut down, and nothing of this instance is worth keeping.
        """
        try:
            self._kill()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def new_mailbox(self, prefix: str = "klachten") -> Mailbox:
        """A brand-new, empty account, `<prefix>-0001` and so on, password NEW_USER_PASSWORD."""
        with self._lock:
            self._counter += 1
            username = f"{prefix}-{self._counter:04d}"
        if username in self.STATIC_USERS or not username.replace("-", "").isalnum():
            raise ValueError(f"unusable user name {username!r}")
        return Mailbox(
            host=self.host,
            port=self.port,
            username=username,
            password=self.NEW_USER_PASSWORD,
            ssl_context=self.client_ssl_context(),
            home=self._make_home(username),
        )

    def mailbox(self, username: str) -> Mailbox:
        """A Mailbox for an existing account, e.g. one of STATIC_USERS."""
        return Mailbox(
            host=self.host,
            port=self.port,
            username=username,
            password=self.STATIC_USERS[username],
            ssl_context=self.client_ssl_context(),
            home=self.home_root / username,
        )

    def log(self) -> str:
        """The end of Dovecot's log (info and errors)."""
        return _read_tail(self.log_path)

    def wait_for_log(self, pattern: str, timeout: float = 5.0) -> re.Match[str]:
        """Wait until a line of the log matches the regex pattern; return the match.

        Dovecot's log process writes a moment after the event, so never assert on
        log() right after a login. Example: a login over TLS logs
        "Login: user=<klachten-0001>, method=PLAIN, ..., TLS, session=<...>", one without
        TLS from 127.0.0.1 logs "..., secured, session=<...>".
        """
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            for line in self.log().splitlines():
                match = regex.search(line)
                if match:
                    return match
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no line of the Dovecot log matches {pattern!r} within {timeout}s:\n"
                    f"{self.log()}"
                )
            time.sleep(0.02)

    # -- internals ---------------------------------------------------------------------

    def _make_home(self, username: str) -> Path:
        home = self.home_root / username
        home.mkdir(mode=0o700)
        os.chown(home, self.mail_uid, self.mail_gid)
        return home

    def _write_passwd(self) -> None:
        lines = [f"{name}:{{PLAIN}}{pw}::::::\n" for name, pw in self.STATIC_USERS.items()]
        self.passwd_path.write_text("".join(lines))
        self.passwd_path.chmod(0o644)

    def _write_config(self) -> None:
        root = self.root
        lines = [
            "# private test instance written by tests/servers.py",
            f"base_dir = {root / 'run'}",
            f"state_dir = {root / 'state'}",
            f"log_path = {self.log_path}",
            f"info_log_path = {self.log_path}",
            f"instance_name = mailbot-test-{root.name}",
            "listen = 127.0.0.1",
            "protocols = imap",
            "auth_mechanisms = plain login",
            # Plaintext login is fine on loopback with test passwords. Note that Dovecot
            # counts any connection from this host as "secured": even the TLS instance
            # (ssl = required) accepts LOGIN before STARTTLS from 127.0.0.1.
            f"disable_plaintext_auth = {'yes' if self.tls else 'no'}",
            f"first_valid_uid = {self.mail_uid}",
            f"first_valid_gid = {self.mail_gid}",
            "mail_location = maildir:~/Maildir",
            "mail_fsync = never",
            "mail_max_userip_connections = 100",
            # Wrong-password tests must not slow down the next ones: no failure delay
            # (default 2 s), and no anvil "auth penalty", which otherwise delays every
            # login from 127.0.0.1 by up to 15 s after a few failures.
            "auth_failure_delay = 0",
            "service anvil {",
            "  unix_listener anvil-auth-penalty {",
            "    mode = 0",
            "  }",
            "}",
            # Accounts: STATIC_USERS in a passwd-file, and any other name (new_mailbox())
            # with NEW_USER_PASSWORD. Adding users to the passwd-file instead does not
            # work: Dovecot looks at the file at most once per second, so a user added
            # right after a login is unknown for up to a second.
            "passdb {",
            "  driver = passwd-file",
            f"  args = scheme=PLAIN {self.passwd_path}",
            "}",
            "passdb {",
            "  driver = static",
            f"  args = password={self.NEW_USER_PASSWORD}",
            "  username_filter = " + " ".join(f"!{name}" for name in self.STATIC_USERS),
            "}",
            "userdb {",
            "  driver = static",
            f"  args = uid={self.mail_uid} gid={self.mail_gid} home={self.home_root}/%u",
            "}",
            "namespace inbox {",
            "  inbox = yes",
            "  prefix =",
            f"  separator = {self.SEPARATOR}",
            # RFC 6154 SPECIAL-USE: LIST marks this folder \Sent once a test creates it
            f'  mailbox "{self.SPECIAL_SENT}" {{',
            "    special_use = \\Sent",
            "  }",
            "}",
        ]
        if self._internal_user is not None:
            lines += [
                f"default_internal_user = {self._internal_user}",
                f"default_internal_group = {grp.getgrgid(self.mail_gid).gr_name}",
                f"default_login_user = {self._internal_user}",
                # chroot needs root
                "service imap-login {",
                "  chroot =",
                "}",
                "service anvil {",
                "  chroot =",
                "}",
            ]
        if self.tls and self.tls_files is not None:
            lines += [
                "ssl = required",
                f"ssl_cert = <{self.tls_files.cert_path}",
                f"ssl_key = <{self.tls_files.key_path}",
                "service imap-login {",
                "  inet_listener imap {",
                f"    port = {self.starttls_port}",
                "  }",
                "  inet_listener imaps {",
                f"    port = {self.port}",
                "    ssl = yes",
                "  }",
                "}",
            ]
        else:
            lines += [
                "ssl = no",
                "service imap-login {",
                "  inet_listener imap {",
                f"    port = {self.port}",
                "  }",
                "  inet_listener imaps {",
                "    port = 0",
                "  }",
                "}",
            ]
        self.config_path.write_text("\n".join(lines) + "\n")

    def _launch(self) -> None:
        argv = [_find_dovecot(), "-F", "-c", str(self.config_path)]
        setpriv = shutil.which("setpriv")
        if setpriv is not None:
            # If pytest is killed outright, the kernel sends Dovecot SIGTERM.
            argv = [setpriv, "--pdeathsig", "SIGTERM", "--", *argv]
        with self.stderr_path.open("wb") as stderr:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self._kill()
            raise

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        # Every Dovecot process shares the master's process group (start_new_session).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _group_alive(proc.pid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"Dovecot processes in group {proc.pid} survived SIGKILL")
            time.sleep(0.02)

    def _wait_ready(self, timeout: float = 15.0) -> None:
        """Wait for the IMAP greeting on every port.

        Reading the greeting, not just connecting, matters: imap-login greets only once
        the auth process answers, so a server that greets can log users in.
        """
        assert self._proc is not None
        pending: list[tuple[int, bool]] = [(self.port, self.tls)]
        if self.starttls_port:
            pending.append((self.starttls_port, False))
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while pending:
            code = self._proc.poll()
            if code is not None:
                raise ServerStartError(self._failure(f"dovecot exited with status {code}"))
            if time.monotonic() > deadline:
                raise ServerStartError(
                    self._failure(f"dovecot not ready after {timeout}s ({last_error!r})")
                )
            port, implicit_tls = pending[0]
            try:
                greeting = self._greeting(port, implicit_tls)
            except OSError as exc:  # includes ssl.SSLError
                last_error = exc
                time.sleep(0.05)
                continue
            if not greeting.startswith(b"* OK"):
                # A login process that dies (e.g. a Fatal in its setup) closes the
                # connection before greeting; the master would retry it forever.
                if greeting or "Fatal:" in self.log():
                    raise ServerStartError(self._failure(f"unexpected greeting {greeting!r}"))
                time.sleep(0.05)
                continue
            pending.pop(0)

    def _greeting(self, port: int, implicit_tls: bool) -> bytes:
        with socket.create_connection((self.host, port), timeout=2) as raw:
            if implicit_tls:
                context = self.client_ssl_context()
                assert context is not None
                with context.wrap_socket(raw, server_hostname=self.host) as tls:
                    return _read_line(tls)
            return _read_line(raw)

    def _failure(self, what: str) -> str:
        # The files go when the fixture stops the server, so the message carries them.
        config = _read_tail(self.config_path).splitlines()
        numbered = "\n".join(f"{n:3} {line}" for n, line in enumerate(config, 1))
        return (
            f"{what}\n"
            f"--- stderr ---\n{_read_tail(self.stderr_path)}\n"
            f"--- {self.log_path.name} ---\n{self.log()}\n"
            f"--- {self.config_path} ---\n{numbered}"
        )


def _read_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1024)
        if not chunk:
            break
        data += chunk
    return data


def _group_alive(pgid: int) -> bool:
    """Whether a live (non-zombie) process remains in process group pgid.

    Zombies count as dead: an orphaned child is reparented to PID 1, and not every PID 1
    (e.g. in containers) reaps promptly, so os.killpg(pgid, 0) would keep succeeding.
    """
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ...": comm may contain spaces, so split after ")"
        fields = text.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


# ---------------------------------------------------------------------------------------
# OAuth2: a token-check endpoint, and a Dovecot that logs in with XOAUTH2 through it


class TokenEndpoint:
    """A tiny OAuth2 token introspection endpoint (RFC 7662 style) on 127.0.0.1.

    It knows the tokens handed out by issue() and which user each belongs to. Dovecot's
    oauth2 passdb (introspection_mode = post) POSTs ``token=...`` to .url and gets
    ``{"active": true, "username": "<user>"}`` for a known token, ``{"active": false}``
    for any other; a GET with ``Authorization: Bearer ...`` (introspection_mode = auth)
    works too. The SMTP sink asks check() directly. Thread-safe.
    """

    PATH = "/introspect"

    def __init__(self, host: str = LOCALHOST) -> None:
        self.host = host
        self.port = 0
        self._tokens: dict[str, str] = {}  # token -> username
        self._checked: list[tuple[str, bool]] = []  # (username or "", accepted)
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<TokenEndpoint {self.url}>"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.PATH}"

    def start(self) -> None:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode("ascii", "replace"))
                self._answer(form.get("token", [""])[0])

            def do_GET(self) -> None:
                scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
                self._answer(token if scheme.lower() == "bearer" else "")

            def _answer(self, token: str) -> None:
                try:
                    if self.path.split("?", 1)[0] != endpoint.PATH:
                        self.send_error(404)
                        return
                    user = endpoint.check(token)
                    reply = {"active": True, "username": user} if user else {"active": False}
                    body = json.dumps(reply).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except Exception as exc:
                    with endpoint._lock:
                        endpoint._errors.append(exc)
                    raise

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: pytest shows our assertions, not an access log

        server = ThreadingHTTPServer((self.host, 0), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            errors = list(self._errors)
        if errors:
            raise ServerThreadError(f"the token endpoint raised: {errors!r}") from errors[0]

    def issue(self, username: str) -> str:
        """A new valid access token for username."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = username
        return token

    def revoke(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def check(self, token: str) -> str | None:
        """The user of a valid token, else None; every check is recorded."""
        with self._lock:
            user = self._tokens.get(token)
            self._checked.append((user or "", user is not None))
        return user

    @property
    def checks(self) -> list[tuple[str, bool]]:
        """(user, accepted) for every token checked so far; user is "" for unknown tokens."""
        with self._lock:
            return list(self._checked)


class OAuthDovecotServer(DovecotServer):
    """The private Dovecot, plus XOAUTH2 / OAUTHBEARER checked by a TokenEndpoint.

    Password logins work as in DovecotServer. For XOAUTH2, Dovecot 2.3 asks the passdbs
    in order with the token as the password: the password passdbs refuse it, then the
    oauth2 passdb (introspection_mode = post) asks the endpoint, which must answer
    active = true with the same username as the one in the XOAUTH2 string.
    """

    def __init__(self, endpoint: TokenEndpoint, *, tls: bool = False) -> None:
        super().__init__(tls=tls)
        self.endpoint = endpoint
        self.oauth2_config_path = self.root / "dovecot-oauth2.conf.ext"

    def _write_config(self) -> None:
        super()._write_config()
        self.oauth2_config_path.write_text(
            "\n".join(
                [
                    "introspection_mode = post",
                    f"introspection_url = {self.endpoint.url}",
                    "username_attribute = username",
                    "active_attribute = active",
                    "active_value = true",
                    "timeout_msecs = 5000",
                ]
            )
            + "\n"
        )
        with self.config_path.open("a") as config:
            config.write(
                "\n".join(
                    [
                        "# OAuthDovecotServer: XOAUTH2 and OAUTHBEARER through the token endpoint",
                        "auth_mechanisms = plain login xoauth2 oauthbearer",
                        "passdb {",
                        "  driver = oauth2",
                        "  mechanisms = xoauth2 oauthbearer",
                        f"  args = {self.oauth2_config_path}",
                        "}",
                    ]
                )
                + "\n"
            )


# ---------------------------------------------------------------------------------------
# SMTP sink

Stage = Literal["MAIL", "RCPT", "DATA"]


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the SMTP server accepted it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    message: EmailMessage  # parsed with email.policy.default
    mail_options: tuple[str, ...]
    rcpt_options: tuple[str, ...]
    auth_login: str | None  # the AUTH user, if the client authenticated

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")


@dataclass(frozen=True)
class Rejection:
    """A command the sink refused on purpose (fail_next / reject_recipient)."""

    stage: Stage
    code: int
    text: str
    mail_from: str | None
    recipient: str | None


@dataclass
class _PlannedFailure:
    stage: Stage
    code: int
    text: str
    remaining: int


@dataclass
class _SinkState:
    received: list[ReceivedMail] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    planned: list[_PlannedFailure] = field(default_factory=list)
    rejected_recipients: dict[str, tuple[int, str]] = field(default_factory=dict)
    xoauth2: list[tuple[str, bool]] = field(default_factory=list)  # (user, accepted)


class _SinkHandler:
    """aiosmtpd handler; runs on the server thread's event loop."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.sink.auth_required and not session.authenticated:
            return "530 5.7.0 Authentication required"
        refusal = self.sink._take_failure("MAIL", address, None)
        if refusal:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        refusal = self.sink._take_failure("RCPT", envelope.mail_from, address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        refusal = self.sink._take_failure("DATA", envelope.mail_from, None)
        if refusal:
            return refusal
        # decode_data=False: original_content holds the bytes exactly as received
        data = envelope.original_content or b""
        message = BytesParser(policy=email.policy.default).parsebytes(data)
        assert isinstance(message, EmailMessage)
        auth_login = None
        if isinstance(session.auth_data, LoginPassword):
            auth_login = session.auth_data.login.decode("utf-8", errors="replace")
        mail = ReceivedMail(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=data,
            message=message,
            mail_options=tuple(envelope.mail_options),
            rcpt_options=tuple(envelope.rcpt_options),
            auth_login=auth_login,
        )
        self.sink._deliver(mail)
        return "250 2.0.0 Message accepted for delivery"

    async def handle_exception(self, error: Exception) -> str:
        self.sink._record_error(error)
        return f"451 4.3.0 test sink error: {type(error).__name__}"


class _OAuthSinkHandler(_SinkHandler):
    """_SinkHandler plus AUTH XOAUTH2, as Google and Microsoft 365 speak it.

    The client sends base64("user=" user "\\x01auth=Bearer " token "\\x01\\x01"), as
    the initial response or after an empty 334. A token the sink's TokenEndpoint does
    not know for that user gets a 334 with a base64 JSON error, the client answers with
    an empty line, and then 535.
    """

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        endpoint = self.sink.oauth
        assert endpoint is not None
        if len(args) == 1:
            blob = await server.challenge_auth("")
            if blob is MISSING:
                return AuthResult(success=False, handled=True)
            assert isinstance(blob, bytes)
        else:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                return AuthResult(
                    success=False, handled=False, message="501 5.5.2 Can't decode base64"
                )
        fields = dict(
            part.decode("utf-8", "replace").partition("=")[::2]
            for part in blob.split(b"\x01")
            if part
        )
        user = fields.get("user", "")
        scheme, _, token = fields.get("auth", "").partition(" ")
        accepted = scheme.lower() == "bearer" and bool(user) and endpoint.check(token) == user
        with self.sink._cond:
            self.sink._state.xoauth2.append((user, accepted))
        if accepted:
            # The token is not kept: auth_data carries only the user, for ReceivedMail.
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        error = {"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"}
        await server.challenge_auth(json.dumps(error))  # the client answers with ""
        return AuthResult(
            success=False,
            handled=False,  # aiosmtpd then sends the message
            message="535 5.7.8 Username and Password not accepted (XOAUTH2)",
        )


class SmtpSink:
    """A real SMTP server (aiosmtpd) that keeps every accepted message.

    Thread-safe: the server runs in its own thread; tests read from theirs.
    """

    def __init__(
        self,
        *,
        auth: tuple[str, str] | None = None,
        host: str = LOCALHOST,
        oauth: TokenEndpoint | None = None,
    ) -> None:
        self.host = host
        self.port = 0
        self.username: str | None = auth[0] if auth else None
        self.password: str | None = auth[1] if auth else None
        #: oauth: offer AUTH XOAUTH2 too, for tokens this endpoint knows (and require AUTH)
        self.oauth = oauth
        self.auth_required = auth is not None or oauth is not None
        self._state = _SinkState()
        self._cond = threading.Condition()
        self._controller: Controller | None = None

    def __repr__(self) -> str:
        return f"<SmtpSink {self.host}:{self.port} auth={self.auth_required}>"

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, attempts: int = 3) -> None:
        kwargs: dict[str, Any] = {}
        if self.auth_required:
            # auth_required stays False: aiosmtpd warns when AUTH is required without
            # TLS, and warnings are errors here. handle_MAIL enforces AUTH instead (530).
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        last: BaseException | None = None
        for _ in range(attempts):
            self.port = free_port(self.host)
            controller = Controller(
                _OAuthSinkHandler(self) if self.oauth is not None else _SinkHandler(self),
                hostname=self.host,
                port=self.port,
                server_hostname="sink.test",
                ready_timeout=10,
                **kwargs,
            )
            try:
                controller.start()
            except OSError as exc:  # port taken between free_port() and bind
                last = exc
                with contextlib.suppress(Exception):
                    controller.stop(no_assert=True)
                continue
            self._controller = controller
            return
        raise ServerStartError(f"aiosmtpd did not start on {self.host}: {last!r}")

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
        self.raise_errors()

    def raise_errors(self) -> None:
        """Re-raise the first exception raised inside the server thread, if any."""
        with self._cond:
            errors = list(self._state.errors)
        if errors:
            raise ServerThreadError(
                f"the SMTP sink raised {len(errors)} error(s) in its thread: {errors!r}"
            ) from errors[0]

    # -- arranging failures ------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        code: int = 451,
        text: str = "4.3.0 try again",
        *,
        stage: Stage = "DATA",
    ) -> None:
        """The next n MAIL/RCPT/DATA commands (per stage) answer `code text`.

        451 (4xx) is a temporary failure the sender should retry; 550 (5xx) permanent.
        Calls queue up: fail_next(1, 451) then fail_next(1, 550) fails twice, in order.
        """
        if stage not in ("MAIL", "RCPT", "DATA"):
            raise ValueError(f"unknown stage {stage!r}")
        if not 400 <= code <= 599:
            raise ValueError("a failure code is 4xx or 5xx")
        with self._cond:
            self._state.planned.append(_PlannedFailure(stage, code, text, n))

    def reject_recipient(
        self, address: str, code: int = 550, text: str = "5.1.1 mailbox unavailable"
    ) -> None:
        """Every RCPT TO:<address> (case-insensitive) answers `code text`."""
        with self._cond:
            self._state.rejected_recipients[address.lower()] = (code, text)

    # -- inspecting --------------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._cond:
            return list(self._state.received)

    @property
    def rejections(self) -> list[Rejection]:
        with self._cond:
            return list(self._state.rejections)

    @property
    def xoauth2_attempts(self) -> list[tuple[str, bool]]:
        """(user, accepted) for every AUTH XOAUTH2 so far (only with oauth=...)."""
        with self._cond:
            return list(self._state.xoauth2)

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[ReceivedMail]:
        """Wait until at least count messages arrived; return all of them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._state.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._state.errors:
                    break
                self._cond.wait(remaining)
            received = list(self._state.received)
            errors = list(self._state.errors)
        if errors:
            self.raise_errors()
        if len(received) < count:
            summary = "\n".join(
                f"  from={m.mail_from!r} to={list(m.rcpt_tos)!r} subject={m.subject!r}"
                for m in received
            )
            raise AssertionError(
                f"expected at least {count} message(s) within {timeout}s, "
                f"got {len(received)}:\n{summary or '  (none)'}\n"
                f"rejections: {self.rejections!r}"
            )
        return received

    # -- called from the server thread -------------------------------------------------

    def _take_failure(self, stage: Stage, mail_from: str | None, rcpt: str | None) -> str | None:
        with self._cond:
            chosen: tuple[int, str] | None = None
            if stage == "RCPT" and rcpt is not None:
                chosen = self._state.rejected_recipients.get(rcpt.lower())
            if chosen is None:
                for planned in self._state.planned:
                    if planned.stage == stage and planned.remaining > 0:
                        planned.remaining -= 1
                        chosen = (planned.code, planned.text)
                        break
                self._state.planned = [p for p in self._state.planned if p.remaining > 0]
            if chosen is None:
                return None
            code, text = chosen
            self._state.rejections.append(Rejection(stage, code, text, mail_from, rcpt))
            return f"{code} {text}"

    def _deliver(self, mail: ReceivedMail) -> None:
        with self._cond:
            self._state.received.append(mail)
            self._cond.notify_all()

    def _record_error(self, error: BaseException) -> None:
        with self._cond:
            self._state.errors.append(error)
            self._cond.notify_all()

    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and self.username and self.password:
            ok = secrets.compare_digest(
                auth_data.login, self.username.encode()
            ) and secrets.compare_digest(auth_data.password, self.password.encode())
            if ok:
                return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)


# ---------------------------------------------------------------------------------------
# PostgreSQL

PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5"
PG_URL_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/"


class PostgresUnavailable(RuntimeError):
    pass


@contextlib.contextmanager
def fresh_pg_database(admin_dsn: str = PG_ADMIN_DSN) -> Iterator[str]:
    """CREATE a database with a random name; yield its SQLAlchemy URL; DROP it after."""
    name = f"mailbot_test_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(admin_dsn, autocommit=True)
    except psycopg.OperationalError as exc:
        raise PostgresUnavailable(
            f"PostgreSQL is not reachable ({admin_dsn}): {exc}. The integration tests need "
            "it: start it with `pg_ctlcluster --skip-systemctl-redirect "
            "$(ls /etc/postgresql) main start` or run scripts/test, which does that."
        ) from exc
    try:
        with admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            try:
                yield PG_URL_BASE + name
            finally:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
    finally:
        admin.close()


def pg_database_exists(name: str, admin_dsn: str = PG_ADMIN_DSN) -> bool:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None
