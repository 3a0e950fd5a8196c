"""Where a secret comes from: exactly one of the key itself, ``*_file`` or ``*_env``, else a
systemd credential in ``$CREDENTIALS_DIRECTORY``. Problems are reported, values never."""

from __future__ import annotations

import re
from pathlib import Path

from mailbot.config.model import ENV_CREDENTIALS, OAUTH_CREDENTIAL, Secret
from mailbot.config.schema import (
    CLIENT_SECRET_SOURCES,
    FILE_SECRETS,
    INLINE_SECRETS,
    PASSWORD_SOURCES,
)
from mailbot.config.values import Table

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def password(t: Table, credential: str, *, required: bool) -> Secret | None:
    """The password from exactly one source, or from the systemd credential."""
    reason = " (username is set, so a password is needed)" if t.name == "smtp" else ""
    return one_secret(
        t, PASSWORD_SOURCES, credential, required=required, missing=f"missing{reason}"
    )


def client_secret(t: Table) -> Secret | None:
    """The Azure client secret from exactly one source, or from the systemd credential."""
    return one_secret(
        t,
        CLIENT_SECRET_SOURCES,
        OAUTH_CREDENTIAL,
        required=True,
        missing='missing (oauth_provider = "microsoft" needs the Azure app\'s client secret)',
    )


def one_secret(
    t: Table, sources: tuple[str, str, str], credential: str, *, required: bool, missing: str
) -> Secret | None:
    """A secret from exactly one of `sources` (literal, _file, _env), else from
    $CREDENTIALS_DIRECTORY/<credential>; every problem reported, the value never."""
    literal, from_file, from_env = sources
    given = [key for key in sources if key in t.data]
    if not t.source.secrets:
        return Secret("") if required or given else None
    found = [value for key in given if (value := _secret_from(t, key)) is not None]
    if len(given) > 1:
        t.report(
            given[-1],
            f"give only one of {literal}, {from_file} and {from_env}, "
            f"not {' and '.join(given)} together",
        )
        return None
    if given:
        return found[0] if found else None
    directory = t.source.env.get(ENV_CREDENTIALS, "")
    if directory:
        path = Path(directory) / credential
        if path.exists():
            return _read_secret_file(t, literal, path, f"systemd credential {path}")
    if required:
        message = (
            f"{missing}; expected {from_file}, {from_env} or (discouraged) {literal}, or "
            f"a systemd credential named {credential} (LoadCredential=), "
            f"e.g. {t.keys[from_file].example} or {t.keys[from_env].example}"
        )
        if directory:
            message += f"; ${ENV_CREDENTIALS} ({directory}) holds no {credential}"
        t.report(literal, message)
    return None


def _secret_from(t: Table, key: str) -> Secret | None:
    value = t.string(key)
    if value is None:
        return None
    if key in INLINE_SECRETS:
        if not value:
            t.invalid(key, "is empty")
            return None
        return Secret(value)
    if key in FILE_SECRETS:
        if not value.strip():
            t.invalid(key, "is empty")
            return None
        path = t.source.base / value
        return _read_secret_file(t, key, path, str(path))
    return _secret_from_env(t, key, value)


def _secret_from_env(t: Table, key: str, name: str) -> Secret | None:
    if not _ENV_NAME.fullmatch(name):
        t.invalid(key, "is not a valid environment variable name")
        return None
    content = t.source.env.get(name)
    if content is None:
        t.report(
            key,
            f"the environment variable {name} is not set; set it in mailbot's environment "
            "(e.g. EnvironmentFile= in the systemd unit)",
        )
        return None
    if not content:
        t.report(key, f"the environment variable {name} is empty")
        return None
    return Secret(content)


def _read_secret_file(t: Table, key: str, path: Path, name: str) -> Secret | None:
    try:
        content = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        t.report(key, f"{name} does not exist")
        return None
    except UnicodeDecodeError:
        t.report(key, f"{name} is not UTF-8 text")
        return None
    except OSError as exc:
        t.report(key, f"cannot read {name}: {exc.strerror}")
        return None
    content = content.removesuffix("\n").removesuffix("\r")
    if not content:
        t.report(key, f"{name} is empty")
        return None
    return Secret(content)
