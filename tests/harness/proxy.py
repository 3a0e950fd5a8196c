"""A TCP proxy a test can cut and restore: a server outage without stopping the server.

The daemon talks to the proxy's port; cut() closes every connection and refuses new ones
(as a stopped server does), restore() listens again on the same port. Used for Dovecot,
the SMTP sink and the shared PostgreSQL, which the tests must not stop.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from harness.base import LOCALHOST, free_port


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = LOCALHOST) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.connections = 0  # accepted so far
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._listening: threading.Event | None = None

    def __repr__(self) -> str:
        return f"<TcpProxy {LOCALHOST}:{self.port} -> {self.target[0]}:{self.target[1]}>"

    def start(self) -> None:
        self.port = free_port()
        self.restore()

    def restore(self) -> None:
        """Accept connections again, on the same port."""
        listener = socket.create_server((LOCALHOST, self.port))  # SO_REUSEADDR on POSIX
        listener.settimeout(0.05)
        running = threading.Event()
        running.set()
        self._listening = running
        threading.Thread(target=self._accept, args=(listener, running), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and break the open ones, as a server that went down."""
        if self._listening is not None:
            self._listening.clear()
            self._listening = None
        with self._lock:
            broken, self._open = self._open, []
        for sock in broken:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    stop = cut

    def _accept(self, listener: socket.socket, running: threading.Event) -> None:
        with listener:
            while running.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)
                client.settimeout(None)
                with self._lock:
                    self._open += [client, upstream]
                    self.connections += 1
                for src, dst in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
