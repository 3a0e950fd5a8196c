"""OAuth2: a token-check endpoint that the private Dovecot and the SMTP sink ask."""

from __future__ import annotations

import json
import secrets
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harness.base import LOCALHOST, ServerThreadError


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
