"""Tokens from a program the operators name: ``oauth_provider = "command"``."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from mailbot.auth.tokens import CachingProvider, Service
from mailbot.domain.errors import PermanentError, TransientError
from mailbot.domain.ports import Clock, system_clock

__all__ = ["CommandProvider"]

# RFC 6750 b64token: what a bearer token may consist of.
_B64TOKEN: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class CommandProvider(CachingProvider):
    """Runs ``argv`` (no shell) and reads an access token from its standard output.

    The output is the token itself (one line), or a JSON object
    ``{"access_token": "...", "expires_in": 3599}``. Without expires_in the token is used
    for :data:`~mailbot.auth.tokens.UNKNOWN_LIFETIME_REUSE`, then the command runs again.
    Only the program's path appears in errors, never its other arguments (they may hold
    secrets) or its output.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 30.0,
        label: str = "",
        clock: Clock = system_clock,
    ) -> None:
        if not argv or not argv[0]:
            raise ValueError("CommandProvider needs a program to run")
        super().__init__(clock)
        self.argv = tuple(argv)
        self.timeout = timeout
        self.label = label

    def __repr__(self) -> str:
        return f"CommandProvider({self.argv[0]!r}, ...)"

    @property
    def where(self) -> str:
        prefix = f"{self.label} " if self.label else ""
        return f"{prefix}oauth_token_command {self.argv[0]}"

    def refused_hint(self, protocol: Service, user: str) -> str:
        return (
            f"check that {self.argv[0]} prints a current access token for {user} that this "
            f"{protocol.upper()} server accepts (the right account, scope and audience)"
        )

    def _fetch(self, now: datetime) -> tuple[str, float | None]:
        try:
            done = subprocess.run(
                self.argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise PermanentError(f"{self.where}: no such program") from exc
        except PermissionError as exc:
            raise PermanentError(f"{self.where}: not executable (chmod +x?)") from exc
        except subprocess.TimeoutExpired as exc:
            raise TransientError(
                f"{self.where}: printed no token within {self.timeout:g} s"
            ) from exc
        except OSError as exc:
            raise TransientError(f"{self.where}: cannot run it: {exc.strerror}") from exc
        if done.returncode != 0:
            tail = _last_line(done.stderr)
            raise TransientError(
                f"{self.where}: exited with status {done.returncode}"
                + (f": {tail}" if tail else "")
            )
        return self._parse(done.stdout.decode("utf-8", errors="replace").strip())

    def _parse(self, output: str) -> tuple[str, float | None]:
        if not output:
            raise PermanentError(f"{self.where}: printed nothing; expected an access token")
        if output.startswith("{"):
            try:
                data = json.loads(output)
            except ValueError as exc:
                raise PermanentError(f"{self.where}: printed JSON that cannot be read") from exc
            token = data.get("access_token") if isinstance(data, dict) else None
            if not isinstance(token, str) or not _B64TOKEN.fullmatch(token):
                raise PermanentError(
                    f"{self.where}: the JSON it printed has no usable access_token"
                )
            return token, _lifetime(data.get("expires_in"))
        if not _B64TOKEN.fullmatch(output):
            lines = len(output.splitlines())
            shape = f"{lines} lines" if lines > 1 else f"{len(output)} characters"
            raise PermanentError(
                f"{self.where}: printed something that is not an access token ({shape}); "
                'expected the token alone, or JSON {"access_token": ..., "expires_in": ...}'
            )
        return output, None


def _lifetime(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _last_line(output: bytes, limit: int = 200) -> str:
    lines = [line.strip() for line in output.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return ""
    last = lines[-1]
    return last if len(last) <= limit else last[: limit - 3] + "..."
