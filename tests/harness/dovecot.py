"""A private Dovecot (plain, TLS, or with XOAUTH2 through a TokenEndpoint).

Nothing here is faked. Each instance listens on 127.0.0.1 on a port chosen at runtime,
is started and stopped by a pytest fixture (see conftest.py), and raises with its own
log when it does not come up.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import ClassVar

from harness.base import LOCALHOST, ServerStartError, free_port, group_alive, read_line, read_tail
from harness.mailbox import Mailbox
from harness.tls import TlsFiles, make_tls_files
from harness.token_endpoint import TokenEndpoint


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
        return read_tail(self.log_path)

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
            "# private test instance written by tests/harness/dovecot.py",
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
            # RFC 6154 SPECIAL-USE: LIST marks this folder \\Sent once a test creates it
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
        while group_alive(proc.pid):
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
                    return read_line(tls)
            return read_line(raw)

    def _failure(self, what: str) -> str:
        # The files go when the fixture stops the server, so the message carries them.
        config = read_tail(self.config_path).splitlines()
        numbered = "\n".join(f"{n:3} {line}" for n, line in enumerate(config, 1))
        return (
            f"{what}\n"
            f"--- stderr ---\n{read_tail(self.stderr_path)}\n"
            f"--- {self.log_path.name} ---\n{self.log()}\n"
            f"--- {self.config_path} ---\n{numbered}"
        )


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
