"""What every test server shares: the loopback address, free ports, errors, log tails."""

from __future__ import annotations

import socket
from pathlib import Path

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


def read_tail(path: Path, limit: int = 20_000) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return f"<{path} does not exist>"
    return data[-limit:].decode("utf-8", errors="replace")


class ServerStartError(RuntimeError):
    """A test server did not come up; the message carries its log."""


class ServerThreadError(RuntimeError):
    """Code in a test server's thread raised; __cause__ is the first such exception."""


def read_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1024)
        if not chunk:
            break
        data += chunk
    return data


def group_alive(pgid: int) -> bool:
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
