"""The README's service installation, step by step, as far as this machine allows (issue
11.3): install mailbot (not editable) from this checkout, write the config and the password
files as the README says, `mailbot check` with systemd's credentials folder, and
`systemd-analyze verify` of deploy/mailbot.service pointing at the installed mailbot.

The README's own way, `python3 -m venv` and `pip install /path/to/mailbot` into it, resolves
and installs every dependency: it is marked slow. CI runs the short variant, which builds
and installs the same package without its dependencies (they come from the test venv)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from harness import Mailbox, SmtpSink
from support.unit import ROOT, unit_pointing_at, verify_unit

from mailbot.config import MAILBOX_CREDENTIAL


def _run(*args: str | Path, env: Mapping[str, str] | None = None, timeout: float = 900) -> str:
    done = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **env} if env else None,
        cwd="/",  # not the checkout: its mailbot/ must not be what answers
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _source(tmp_path: Path) -> Path:
    """A copy of the checkout (as /path/to/mailbot), so that building it leaves no build/
    or egg-info in the working tree."""
    copy = tmp_path / "src" / "mailbot"
    shutil.copytree(
        ROOT,
        copy,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".venv",
            ".git",
            "build",
            "*.egg-info",
            "__pycache__",
            ".mypy_cache",
            ".ruff_cache",
            ".pytest_cache",
            "tests",
            "bench",
            "docs",
        ),
    )
    return copy


def _configure(etc: Path, source: Path, mailbox: Mailbox, smtp: SmtpSink, state: Path) -> Path:
    """`install -m 644 config.example.toml /etc/mailbot/config.toml` and the edits the
    README asks for: this machine's servers, no password lines (systemd hands them over
    as credentials), the database in the state directory."""
    etc.mkdir()
    config = etc / "config.toml"
    shutil.copy(source / "config.example.toml", config)
    text = config.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^password\w*\s*=.*\n", "", text)  # the `password…` lines
    text = text.replace(
        'host = "imap.gemeente.example"',
        f'host = "{mailbox.host}"\nport = {mailbox.port}\nsecurity = "plain"',
    )
    text = text.replace(
        'username = "klachten@gemeente.example"', f'username = "{mailbox.username}"', 1
    )
    text = text.replace(
        'host = "smtp.gemeente.example"',
        f'host = "{smtp.host}"\nport = {smtp.port}\nsecurity = "plain"',
    )
    text = text.replace("[database]\n", f'[database]\nurl = "sqlite:///{state}/mailbot.sqlite3"\n')
    config.write_text(text, encoding="utf-8")
    secret = etc / MAILBOX_CREDENTIAL  # install -m 600 /dev/null /etc/mailbot/mailbox-password
    secret.write_text(mailbox.password + "\n")
    secret.chmod(0o600)
    return config


def _check_and_verify(
    mailbot: Path,
    tmp_path: Path,
    mailbox: Mailbox,
    smtp: SmtpSink,
    source: Path,
    env: Mapping[str, str] | None = None,
) -> None:
    state = tmp_path / "var-lib-mailbot"
    config = _configure(tmp_path / "etc-mailbot", source, mailbox, smtp, state)
    checked = _run(
        mailbot,
        "--config",
        config,
        "check",
        env={**(env or {}), "CREDENTIALS_DIRECTORY": str(config.parent)},
    )
    assert "imap: " in checked and "logged in as" in checked
    assert "smtp: " in checked and "all checks passed" in checked
    assert "does not exist yet" in checked and not state.exists()  # check created nothing
    verify_unit(unit_pointing_at(tmp_path, mailbot))


def test_the_readme_install_with_the_package_built_from_the_checkout(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink
) -> None:
    """The short variant: the real package (wheel built from the checkout, templates and
    migrations included) in a folder of its own; dependencies from the test venv."""
    source = _source(tmp_path)
    target = tmp_path / "opt-mailbot"
    _run(
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--target",
        target,
        source,
    )
    mailbot = target / "bin" / "mailbot"
    env = {"PYTHONPATH": str(target)}
    version = _run(mailbot, "--version", env=env)
    assert version.startswith("mailbot ")
    # The installed package, not this checkout, answers:
    where = _run(sys.executable, "-c", "import mailbot; print(mailbot.__file__)", env=env)
    assert where.strip().startswith(str(target))
    _check_and_verify(mailbot, tmp_path, mailbox, smtp_server, source, env)


@pytest.mark.slow
def test_the_readme_install_in_a_new_venv(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink
) -> None:
    """As the README says: python3 -m venv /opt/mailbot/venv; pip install /path/to/mailbot.
    About 100 s here; runs only when asked for: pytest -m slow tests/test_install.py"""
    source = _source(tmp_path)
    venv = tmp_path / "opt-mailbot" / "venv"
    _run(sys.executable, "-m", "venv", venv)
    _run(venv / "bin" / "pip", "install", "--quiet", source)
    mailbot = venv / "bin" / "mailbot"
    _check_and_verify(mailbot, tmp_path, mailbox, smtp_server, source)
