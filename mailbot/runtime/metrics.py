"""Prometheus metrics on a loopback port (optional: [daemon] metrics_port)."""

from __future__ import annotations

import errno
from collections.abc import Callable
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from mailbot.domain.errors import PermanentError


class Metrics:
    """One registry per process (not the global one), so tests and tools can make several."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.mails = Counter(
            "mailbot_mails",
            "Mailbox messages handled, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.sent = Counter(
            "mailbot_sent", "Mails delivered to the SMTP server", registry=self.registry
        )
        self.send_failures = Counter(
            "mailbot_send_failures",
            "Deliveries that failed, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.last_success = Gauge(
            "mailbot_last_success_timestamp_seconds",
            "When each loop last succeeded (Unix time)",
            ["loop"],
            registry=self.registry,
        )
        self.active = Gauge(
            "mailbot_active", "1 when this instance is the active one", registry=self.registry
        )
        self._server: WSGIServer | None = None

    def gauge_from(self, name: str, doc: str, read: Callable[[], float]) -> None:
        """A gauge read at scrape time, e.g. the outbox queue length from the database."""
        Gauge(name, doc, registry=self.registry).set_function(read)

    def serve(self, port: int) -> None:
        """Only on 127.0.0.1: metrics are for a local scraper or an SSH tunnel."""
        try:
            server, _thread = start_http_server(port, addr="127.0.0.1", registry=self.registry)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise PermanentError(
                f"[daemon] metrics_port = {port}: 127.0.0.1:{port} is already in use; "
                "choose another port or stop what listens there"
            ) from None
        self._server = server

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
