"""A real SMTP server (aiosmtpd) that keeps what it accepts and refuses on request."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import email.policy
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser, Parser
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session

from harness.base import LOCALHOST, ServerStartError, ServerThreadError, free_port
from harness.token_endpoint import TokenEndpoint

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
    at: float = field(default_factory=time.monotonic)  # when its DATA had arrived

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
        arrived = time.monotonic()  # the whole mail is here; the 250 may come later
        refusal = self.sink._take_failure("DATA", envelope.mail_from, None)
        if refusal:
            return refusal
        if self.sink.data_delay:
            await asyncio.sleep(self.sink.data_delay)
        # decode_data=False: original_content holds the bytes exactly as received
        data = envelope.original_content or b""
        if envelope.smtp_utf8:  # RFC 6532: UTF-8 headers, read as the text they are
            message = Parser(policy=email.policy.default).parsestr(data.decode("utf-8"))
        else:
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
            at=arrived,
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
        smtputf8: bool = False,
    ) -> None:
        self.host = host
        #: smtputf8: offer SMTPUTF8 (RFC 6531) in EHLO and take UTF-8 addresses with it
        self.smtputf8 = smtputf8
        self.port = 0
        self.username: str | None = auth[0] if auth else None
        self.password: str | None = auth[1] if auth else None
        #: oauth: offer AUTH XOAUTH2 too, for tokens this endpoint knows (and require AUTH)
        self.oauth = oauth
        self.auth_required = auth is not None or oauth is not None
        #: seconds each DATA waits before its 250: a server that takes its time, so a test
        #: can act (kill the sender, say) while a delivery pass is under way
        self.data_delay = 0.0
        self._state = _SinkState()
        self._cond = threading.Condition()
        self._controller: Controller | None = None

    def __repr__(self) -> str:
        return (
            f"<SmtpSink {self.host}:{self.port} auth={self.auth_required} smtputf8={self.smtputf8}>"
        )

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, attempts: int = 3) -> None:
        kwargs: dict[str, Any] = {"enable_SMTPUTF8": self.smtputf8}
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
