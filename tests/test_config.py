"""mailbot.config: TOML in, frozen dataclasses out, every problem reported at once."""

from __future__ import annotations

import dataclasses
import pickle
import re
import tomllib
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from support.config_files import (
    ENV,
    MAILBOX_SECRET,
    SMTP_SECRET,
    base_document,
    load,
    only_problem,
    problems,
    toml_text,
    write_config,
)

from mailbot.config import (
    ConfigError,
    DatabaseConfig,
    Secret,
    load_config,
)
from mailbot.domain.deadline import AnswerPeriod

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config.example.toml"

# A self-signed CA certificate, only used to check that ca_file accepts a PEM bundle.
TEST_CA_PEM = """\
-----BEGIN CERTIFICATE-----
MIIBiTCCATCgAwIBAgITat+MKc/NwQwUoO6hSz+2MTU7JzAKBggqhkjOPQQDAjAa
MRgwFgYDVQQDDA9tYWlsYm90IHRlc3QgQ0EwIBcNMjYxMTI3MDczNzIzWhgPMjEy
NjExMDMwNzM3MjNaMBoxGDAWBgNVBAMMD21haWxib3QgdGVzdCBDQTBZMBMGByqG
SM49AgEGCCqGSM49AwEHA0IABNhjjGikrXYhAT+eBo07yY5+wZXNoHmuO3egS4fo
7sNGqi7L7xQErwF8Z0imAZzEaIqnthQumBNYg3ZjsL+ZUpijUzBRMB0GA1UdDgQW
BBR3CWz1PBBBU3rltWtET6FqaUzHpDAfBgNVHSMEGDAWgBR3CWz1PBBBU3rltWtE
T6FqaUzHpDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIGUdgLjB
MRH0V+JmHPtDJtHYhdp4sdMOrmziFWdyrrs1AiA8JWTXjCBoO2IixwNFULr+yyyI
vMLm8TALcl3nctvtlw==
-----END CERTIFICATE-----
"""

# --------------------------------------------------------------------------------------------
# A valid configuration


def test_minimal_config_fills_in_every_default(tmp_path: Path) -> None:
    config = load(tmp_path)

    assert config.path == tmp_path / "config.toml"
    mailbox = config.mailbox
    assert (mailbox.host, mailbox.port, mailbox.security) == ("imap.gemeente.example", 993, "tls")
    assert mailbox.username == "klachten@gemeente.example"
    assert mailbox.password.reveal() == MAILBOX_SECRET
    assert (mailbox.folder, mailbox.processed_folder, mailbox.quarantine_folder) == (
        "INBOX",
        "Verwerkt",
        "Quarantaine",
    )
    assert mailbox.ca_file is None
    assert mailbox.batch_size == 200
    assert mailbox.timeout == 60.0
    assert mailbox.poll_interval == 30.0

    smtp = config.smtp
    assert (smtp.host, smtp.port, smtp.security) == ("smtp.gemeente.example", 587, "starttls")
    assert smtp.username is None
    assert smtp.password is None
    assert smtp.from_address == "klachten@gemeente.example"
    assert smtp.from_name == "Klachtendienst"
    assert smtp.ca_file is None
    assert smtp.timeout == 30.0

    assert config.database.url == f"sqlite:///{tmp_path / 'mailbot.sqlite3'}"
    assert config.staff.coordinator == "coordinator@gemeente.example"
    assert config.cases.reference_prefix == "KL"
    assert config.cases.answer_within == AnswerPeriod(months=1)
    assert config.cases.timezone == ZoneInfo("Europe/Brussels")
    assert config.receipts.max_per_sender_per_day == 3
    assert (config.outbox.max_attempts, config.outbox.retry_initial, config.outbox.retry_max) == (
        12,
        60.0,
        3600.0,
    )
    assert config.templates.folder is None
    assert config.logging.level == "INFO"
    assert config.message_id_domain == "gemeente.example"


def test_every_value_can_be_set(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text(TEST_CA_PEM)
    (tmp_path / "sjablonen").mkdir()
    config = load(
        tmp_path,
        {
            "mailbox": {
                "port": 1993,
                "security": "starttls",
                "folder": "Klachten",
                "processed_folder": "Klachten/Verwerkt",
                "quarantine_folder": "Klachten/Quarantaine",
                "ca_file": "ca.pem",
                "batch_size": 5000,
                "timeout": 5,
                "poll_interval": 0.5,
            },
            "smtp": {
                "port": 2525,
                "security": "plain",
                "username": "mailbot",
                "password": SMTP_SECRET,
                "from_address": "Klachten@Zoersel.Gemeente.Example",
                "from_name": "Gemeente Zoersel – klachtendienst",
                "ca_file": "ca.pem",
                "timeout": 12.5,
            },
            "database": {"url": "postgresql+psycopg://mailbot@db.gemeente.example/mailbot"},
            "cases": {
                "reference_prefix": "KLACHT",
                "answer_within": "45 dagen",
                "timezone": "Europe/Amsterdam",
            },
            "receipts": {"max_per_sender_per_day": 1},
            "outbox": {"max_attempts": 1, "retry_initial": 1, "retry_max": 1},
            "templates": {"folder": "sjablonen"},
            "logging": {"level": "debug"},
        },
    )
    assert config.mailbox.port == 1993
    assert config.mailbox.security == "starttls"
    assert config.mailbox.ca_file == tmp_path / "ca.pem"
    assert config.mailbox.timeout == 5.0
    assert isinstance(config.mailbox.timeout, float)
    assert config.smtp.username == "mailbot"
    assert config.smtp.password is not None
    assert config.smtp.password.reveal() == SMTP_SECRET
    assert config.smtp.from_name == "Gemeente Zoersel – klachtendienst"
    assert config.database.url == "postgresql+psycopg://mailbot@db.gemeente.example/mailbot"
    assert config.cases.answer_within == AnswerPeriod(days=45)
    assert config.cases.timezone == ZoneInfo("Europe/Amsterdam")
    assert config.templates.folder == tmp_path / "sjablonen"
    assert config.logging.level == "DEBUG"
    assert config.message_id_domain == "zoersel.gemeente.example"


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load(tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.mailbox.host = "elders.example"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("section", "security", "port"),
    [
        ("mailbox", "tls", 993),
        ("mailbox", "starttls", 143),
        ("mailbox", "plain", 143),
        ("smtp", "tls", 465),
        ("smtp", "starttls", 587),
        ("smtp", "plain", 25),
    ],
)
def test_port_defaults_follow_security(
    tmp_path: Path, section: str, security: str, port: int
) -> None:
    config = load(tmp_path, {section: {"security": security}})
    chosen = config.mailbox if section == "mailbox" else config.smtp
    assert (chosen.security, chosen.port) == (security, port)


def test_security_is_case_insensitive(tmp_path: Path) -> None:
    assert load(tmp_path, {"mailbox": {"security": "TLS"}}).mailbox.security == "tls"


# --------------------------------------------------------------------------------------------
# Problems, one at a time


def test_missing_host_message(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"mailbox": {"host": None}})
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=ENV)
    assert caught.value.problems == [
        f"{path}: [mailbox] host: missing; expected the IMAP server's host name, "
        'e.g. host = "imap.example.be"'
    ]


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("mailbox", "host"),
        ("mailbox", "username"),
        ("mailbox", "password_env"),
        ("smtp", "host"),
        ("smtp", "from_address"),
        ("staff", "coordinator"),
    ],
)
def test_missing_required_key(tmp_path: Path, section: str, key: str) -> None:
    problem = only_problem(tmp_path, {section: {key: None}})
    reported = "password" if key == "password_env" else key
    assert f"[{section}] {reported}: missing; expected " in problem
    assert "e.g. " in problem


def test_missing_sections_report_each_required_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert [re.sub(r":.*", "", p.removeprefix(f"{path}: ")) for p in caught.value.problems] == [
        "[mailbox] host",
        "[mailbox] username",
        "[mailbox] password",
        "[smtp] host",
        "[smtp] from_address",
        "[staff] coordinator",
    ]


def test_typo_in_key_suggests_the_right_one(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"mailbox": {"host": None, "hots": "imap.gemeente.example"}})
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=ENV)
    assert caught.value.problems[0] == f"{path}: [mailbox] hots: unknown key; did you mean 'host'?"
    assert caught.value.problems[1].startswith(f"{path}: [mailbox] host: missing;")


def test_key_in_the_wrong_section_is_pointed_to(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, {"mailbox": {"coordinator": "a@gemeente.example"}})
    assert problem.endswith("[mailbox] coordinator: unknown key; 'coordinator' belongs in [staff]")


def test_unknown_key_without_a_close_match_lists_the_known_keys(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, {"logging": {"format": "json"}})
    assert "[logging] format: unknown key; known keys: level" in problem


def test_unknown_section(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, {"mailbx": {"host": "x"}})
    assert problem.endswith("[mailbx]: unknown section; did you mean [mailbox]?")

    other = tmp_path / "other"
    other.mkdir()
    problem = only_problem(other, {"webhooks": {"url": "x"}})
    assert "[webhooks]: unknown section; known sections: [mailbox], [smtp]" in problem


def test_key_outside_any_section(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('level = "INFO"\n' + toml_text(base_document()), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=ENV)
    assert caught.value.problems == [
        f"{path}: level: unknown key outside any section; it belongs in [logging]"
    ]


def test_section_that_is_not_a_table(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('logging = "INFO"\n' + toml_text(base_document()), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=ENV)
    assert caught.value.problems == [
        f"{path}: [logging]: expected a section, written as [logging] on a line of its own "
        "with its keys below; got a string"
    ]


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        (
            "mailbox",
            "port",
            "993",
            "expected a whole number, e.g. port = 993; got the string '993'; remove the quotes",
        ),
        (
            "mailbox",
            "port",
            993.0,
            "expected a whole number, e.g. port = 993; "
            "got the number 993.0; leave out the decimal point",
        ),
        ("mailbox", "batch_size", True, "expected a whole number, e.g. batch_size = 200; got true"),
        (
            "mailbox",
            "timeout",
            "60",
            "expected a number, e.g. timeout = 60.0; got the string '60'; remove the quotes",
        ),
        (
            "mailbox",
            "username",
            1234,
            "expected a string, e.g. username = "
            '"klachten@gemeente.example"; got the integer 1234; put the value in quotes',
        ),
        ("mailbox", "folder", ["INBOX"], 'expected a string, e.g. folder = "INBOX"; got an array'),
        (
            "cases",
            "answer_within",
            1,
            'expected a string, e.g. answer_within = "1 month"; '
            "got the integer 1; put the value in quotes",
        ),
        (
            "logging",
            "level",
            10,
            'expected a string, e.g. level = "INFO"; got the integer 10; put the value in quotes',
        ),
    ],
)
def test_wrong_type_names_the_expected_type(
    tmp_path: Path, section: str, key: str, value: object, expected: str
) -> None:
    problem = only_problem(tmp_path, {section: {key: value}})
    assert problem.endswith(f"[{section}] {key}: {expected}")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("ssl", "'ssl' is not allowed (did you mean 'tls'?)"),
        ("start-tls", "'start-tls' is not allowed (did you mean 'starttls'?)"),
        ("none", "'none' is not allowed (did you mean 'plain'?)"),
        ("encrypted", "'encrypted' is not allowed; expected one of \"tls\""),
    ],
)
def test_bad_security_value(tmp_path: Path, value: str, fragment: str) -> None:
    problem = only_problem(tmp_path, {"mailbox": {"security": value}})
    assert f"[mailbox] security: {fragment}" in problem
    assert 'e.g. security = "tls"' in problem


def test_bad_timezone_is_named(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, {"cases": {"timezone": "Europe/Brusels"}})
    assert problem.endswith(
        "[cases] timezone: 'Europe/Brusels' is not a known time zone "
        "(did you mean 'Europe/Brussels'?); expected an IANA time zone name, "
        'e.g. timezone = "Europe/Brussels"'
    )


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime"])
def test_impossible_timezones(tmp_path: Path, name: str) -> None:
    problem = only_problem(tmp_path, {"cases": {"timezone": name}})
    assert f"[cases] timezone: {name!r} is not a known time zone" in problem


@pytest.mark.parametrize("text", ["2 weken", "0 days", "month", ""])
def test_bad_answer_within(tmp_path: Path, text: str) -> None:
    problem = only_problem(tmp_path, {"cases": {"answer_within": text}})
    assert "[cases] answer_within: " in problem
    assert "'1 month' or '30 days'" in problem or "is empty" in problem


@pytest.mark.parametrize("prefix", ["kl", "K", "KLACHTX", "K1", "KL-"])
def test_bad_reference_prefix(tmp_path: Path, prefix: str) -> None:
    problem = only_problem(tmp_path, {"cases": {"reference_prefix": prefix}})
    assert f"[cases] reference_prefix: {prefix!r} is not 2 to 6 capital letters" in problem


@pytest.mark.parametrize(
    ("section", "key", "value", "fragment"),
    [
        ("mailbox", "port", 0, "0 is out of range (from 1 to 65535)"),
        ("smtp", "port", 70000, "70000 is out of range (from 1 to 65535)"),
        ("mailbox", "batch_size", 0, "0 is out of range (from 1 to 5000)"),
        ("mailbox", "batch_size", 5001, "5001 is out of range (from 1 to 5000)"),
        ("mailbox", "timeout", 0, "0 is not a number of seconds more than 0"),
        ("mailbox", "poll_interval", -1.5, "-1.5 is not a number of seconds more than 0"),
        ("smtp", "timeout", float("inf"), "inf is not a number of seconds more than 0"),
        ("receipts", "max_per_sender_per_day", 0, "0 is out of range (1 or more)"),
        ("outbox", "max_attempts", 0, "0 is out of range (1 or more)"),
        ("outbox", "retry_initial", 0.0, "0.0 is not a number of seconds more than 0"),
        ("outbox", "retry_max", 30, "30 is less than retry_initial (60)"),
    ],
)
def test_numbers_out_of_range(
    tmp_path: Path, section: str, key: str, value: object, fragment: str
) -> None:
    problem = only_problem(tmp_path, {section: {key: value}})
    assert f"[{section}] {key}: {fragment}; expected " in problem


@pytest.mark.parametrize(
    ("section", "key", "value", "fragment"),
    [
        ("mailbox", "host", "imaps://imap.gemeente.example", "is a URL"),
        ("mailbox", "host", "imap.gemeente.example:993", "contains a port"),
        ("smtp", "host", "smtp gemeente example", "is not a host name"),
        ("smtp", "host", "", "is empty"),
        ("smtp", "from_address", "klachten", "'klachten' is not an e-mail address"),
        ("smtp", "from_address", "klachten@gemeente", "is not an e-mail address"),
        ("smtp", "from_address", "Klachten <klachten@gemeente.example>", "give only the address"),
        ("staff", "coordinator", "a@gemeente.example, b@gemeente.example", "not an e-mail"),
        ("smtp", "from_name", "Klachten\r\nBcc: x@evil.example", "contains a line break"),
        ("mailbox", "processed_folder", "inbox", "'inbox' is the same folder as folder"),
        ("mailbox", "quarantine_folder", "Verwerkt", "is the same folder as processed_folder"),
        ("logging", "level", "verbose", "'verbose' is not allowed"),
        ("logging", "level", "warn", "'warn' is not allowed (did you mean 'WARNING'?)"),
    ],
)
def test_bad_values(tmp_path: Path, section: str, key: str, value: str, fragment: str) -> None:
    problem = only_problem(tmp_path, {section: {key: value}})
    assert f"[{section}] {key}: " in problem
    assert fragment in problem


def test_ca_file_and_templates_folder_must_exist(tmp_path: Path) -> None:
    (tmp_path / "not-a-cert.pem").write_text("hello\n")
    found = problems(
        tmp_path,
        {
            "mailbox": {"ca_file": "missing.pem"},
            "smtp": {"ca_file": "not-a-cert.pem"},
            "templates": {"folder": "sjablonen"},
        },
    )
    assert len(found) == 3
    assert f"[mailbox] ca_file: {tmp_path / 'missing.pem'} does not exist" in found[0]
    assert f"[smtp] ca_file: {tmp_path / 'not-a-cert.pem'} holds no PEM certificates" in found[1]
    assert f"[templates] folder: {tmp_path / 'sjablonen'} does not exist" in found[2]


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        """\
[mailbox]
hots = "imap.gemeente.example"
port = "993"
security = "ssl"
username = "klachten@gemeente.example"
password_env = "NOT_SET"

[smtp]
host = "smtp.gemeente.example"
from_address = "klachten"

[cases]
timezone = "Europe/Brusels"
answer_within = "2 weken"

[logging]
level = "LOUD"

[extra]
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    found = caught.value.problems
    keys = [p.removeprefix(f"{path}: ").split(":")[0] for p in found]
    assert keys == [
        "[extra]",
        "[mailbox] hots",
        "[mailbox] host",
        "[mailbox] port",
        "[mailbox] security",
        "[mailbox] password_env",
        "[smtp] from_address",
        "[staff] coordinator",
        "[cases] answer_within",
        "[cases] timezone",
        "[logging] level",
    ]
    assert len(found) == 11
    assert str(caught.value) == "\n".join(found)
    assert all(p.startswith(f"{path}: ") for p in found)


# --------------------------------------------------------------------------------------------
# Finding and reading the file


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[mailbox]\nport = 993\nhost = imap.gemeente.example\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=ENV)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}: line 3, column 8: invalid TOML: Invalid value")
    assert "quotes" in problem


def test_duplicate_key_is_a_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[mailbox]\nport = 993\nport = 143\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 3, .*appears twice"):
        load_config(path, env=ENV)


def test_unterminated_string_at_end_of_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[mailbox]\nhost = "imap', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=ENV)
    assert caught.value.problems[0].startswith(f"{path}: ")
    assert "invalid TOML" in caught.value.problems[0]


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'[smtp]\nfrom_name = "Klachtendienst \xe9"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=ENV)
    assert caught.value.problems == [
        f"{path}: line 2: not valid UTF-8; save the file as UTF-8 text"
    ]


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf" + toml_text(base_document()).encode())
    assert load_config(path, env=ENV).mailbox.host == "imap.gemeente.example"


def test_missing_file_says_how_to_start(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "config.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=ENV)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}: no such file;")
    assert "copy config.example.toml" in problem


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path, env=ENV)


def test_path_from_mailbot_config_env(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    config = load_config(env={**ENV, "MAILBOT_CONFIG": str(path)})
    assert config.path == path


@pytest.mark.parametrize("env", [{}, {"MAILBOT_CONFIG": ""}])
def test_no_path_and_no_env(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, env=env)
    (problem,) = caught.value.problems
    assert "--config" in problem
    assert "MAILBOT_CONFIG" in problem


def test_explicit_path_wins_over_env(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    config = load_config(path, env={**ENV, "MAILBOT_CONFIG": str(tmp_path / "other.toml")})
    assert config.path == path


def test_env_defaults_to_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path)
    monkeypatch.setenv("MAILBOT_CONFIG", str(path))
    monkeypatch.setenv("MB_PASSWORD", "from-os-environ")
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    assert load_config().mailbox.password.reveal() == "from-os-environ"


def test_relative_config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path)
    monkeypatch.chdir(tmp_path)
    config = load_config("config.toml", env=ENV)
    assert config.path == tmp_path / "config.toml"
    assert config.path.is_absolute()

    (tmp_path / "config.toml").write_text("[mailbox]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config("config.toml", env=ENV)
    assert caught.value.problems[0].startswith("config.toml: [mailbox] host: missing")


# --------------------------------------------------------------------------------------------
# Passwords


def test_password_file_relative_to_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "mailbox").write_text(MAILBOX_SECRET + "\n")
    (secrets / "smtp").write_text(SMTP_SECRET + "\n\n")  # only one newline is stripped
    path = write_config(
        tmp_path,
        {
            "mailbox": {"password_env": None, "password_file": "secrets/mailbox"},
            "smtp": {"username": "mailbot", "password_file": "secrets/smtp"},
        },
    )
    monkeypatch.chdir("/")
    config = load_config(path, env={})
    assert config.mailbox.password.reveal() == MAILBOX_SECRET
    assert config.smtp.password is not None
    assert config.smtp.password.reveal() == SMTP_SECRET + "\n"


def test_password_file_with_crlf(tmp_path: Path) -> None:
    (tmp_path / "pw").write_bytes(MAILBOX_SECRET.encode() + b"\r\n")
    config = load(tmp_path, {"mailbox": {"password_env": None, "password_file": "pw"}})
    assert config.mailbox.password.reveal() == MAILBOX_SECRET


def test_password_file_problems_name_the_path(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("\n")
    found = problems(
        tmp_path,
        {
            "mailbox": {"password_env": None, "password_file": "missing"},
            "smtp": {"username": "mailbot", "password_file": "empty"},
        },
    )
    assert len(found) == 2
    assert f"[mailbox] password_file: {tmp_path / 'missing'} does not exist" in found[0]
    assert f"[smtp] password_file: {tmp_path / 'empty'} is empty" in found[1]


def test_password_file_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "pw").mkdir()
    problem = only_problem(tmp_path, {"mailbox": {"password_env": None, "password_file": "pw"}})
    assert f"[mailbox] password_file: cannot read {tmp_path / 'pw'}: Is a directory" in problem


def test_password_env_missing_variable_is_named(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, env={})
    assert "[mailbox] password_env: the environment variable MB_PASSWORD is not set" in problem

    problem = only_problem(tmp_path, env={"MB_PASSWORD": ""})
    assert "[mailbox] password_env: the environment variable MB_PASSWORD is empty" in problem


def test_password_env_that_is_not_a_variable_name_is_not_echoed(tmp_path: Path) -> None:
    pasted = "p@ss word!"
    problem = only_problem(tmp_path, {"mailbox": {"password_env": pasted}})
    assert "[mailbox] password_env: is not a valid environment variable name" in problem
    assert pasted not in problem


def test_systemd_credentials(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "mailbox-password").write_text(MAILBOX_SECRET + "\n")
    (credentials / "smtp-password").write_text(SMTP_SECRET)
    config = load(
        tmp_path,
        {"mailbox": {"password_env": None}, "smtp": {"username": "mailbot"}},
        env={"CREDENTIALS_DIRECTORY": str(credentials)},
    )
    assert config.mailbox.password.reveal() == MAILBOX_SECRET
    assert config.smtp.password is not None
    assert config.smtp.password.reveal() == SMTP_SECRET


def test_explicit_password_source_wins_over_credentials(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "mailbox-password").write_text("from-credentials")
    config = load(tmp_path, env={**ENV, "CREDENTIALS_DIRECTORY": str(credentials)})
    assert config.mailbox.password.reveal() == MAILBOX_SECRET


def test_smtp_credential_is_ignored_without_username(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "smtp-password").write_text(SMTP_SECRET)
    config = load(tmp_path, env={**ENV, "CREDENTIALS_DIRECTORY": str(credentials)})
    assert config.smtp.username is None
    assert config.smtp.password is None


def test_credentials_directory_without_the_credential(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    problem = only_problem(
        tmp_path,
        {"mailbox": {"password_env": None}},
        env={"CREDENTIALS_DIRECTORY": str(credentials)},
    )
    assert "[mailbox] password: missing;" in problem
    assert f"$CREDENTIALS_DIRECTORY ({credentials}) holds no mailbox-password" in problem


def test_missing_mailbox_password_lists_every_way(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, {"mailbox": {"password_env": None}})
    for way in ("password_file", "password_env", "(discouraged) password", "mailbox-password"):
        assert way in problem


@pytest.mark.parametrize(
    "sources",
    [
        {"password": MAILBOX_SECRET, "password_env": "MB_PASSWORD"},
        {"password_file": "pw", "password_env": "MB_PASSWORD"},
        {"password": MAILBOX_SECRET, "password_file": "pw", "password_env": "MB_PASSWORD"},
    ],
)
def test_two_password_sources_are_an_error(tmp_path: Path, sources: dict[str, object]) -> None:
    (tmp_path / "pw").write_text(MAILBOX_SECRET)
    problem = only_problem(tmp_path, {"mailbox": {"password_env": None, **sources}})
    assert "give only one of password, password_file and password_env" in problem
    assert MAILBOX_SECRET not in problem


def test_smtp_username_needs_a_password(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, {"smtp": {"username": "mailbot"}})
    assert "[smtp] password: missing (username is set, so a password is needed)" in problem


def test_smtp_password_needs_a_username(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, {"smtp": {"password": SMTP_SECRET}})
    assert "[smtp] username: missing (password is given, so a login name is needed)" in problem
    assert SMTP_SECRET not in problem


def test_secret_is_masked() -> None:
    secret = Secret(MAILBOX_SECRET)
    assert secret.reveal() == MAILBOX_SECRET
    assert str(secret) == "***"
    assert repr(secret) == "Secret('***')"
    assert f"{secret}" == "***"
    assert MAILBOX_SECRET not in repr([secret])
    assert secret == Secret(MAILBOX_SECRET)
    assert secret != Secret("other")
    assert hash(secret) == hash(Secret(MAILBOX_SECRET))


def test_secrets_never_appear_in_repr_or_str(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        {
            "smtp": {"username": "mailbot", "password": SMTP_SECRET},
            "database": {"url": "postgresql://mailbot:db-Secret-55@db.gemeente.example/mailbot"},
        },
    )
    for text in (repr(config), str(config), repr(config.mailbox), str(config.smtp)):
        assert MAILBOX_SECRET not in text
        assert SMTP_SECRET not in text
        assert "db-Secret-55" not in text
    assert "mailbot:***@db.gemeente.example" in repr(config.database)
    assert "db-Secret-55" in config.database.url


def test_secrets_never_appear_in_errors(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text(SMTP_SECRET)
    found = problems(
        tmp_path,
        {
            "mailbox": {"password": MAILBOX_SECRET, "port": "nope", "pasword": MAILBOX_SECRET},
            "smtp": {
                "password": 12345678,
                "password_file": "pw",
                "from_address": "not an address",
            },
            "database": {"url": "postgres://mailbot:db-Secret-55@db/mailbot"},
        },
    )
    text = "\n".join(found)
    assert len(found) >= 6
    for secret in (MAILBOX_SECRET, SMTP_SECRET, "12345678", "db-Secret-55"):
        assert secret not in text


# --------------------------------------------------------------------------------------------
# Database URL


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///mailbot.sqlite3", "sqlite:///{dir}/mailbot.sqlite3"),
        ("sqlite:///data/cases.db", "sqlite:///{dir}/data/cases.db"),
        ("sqlite:///../cases.db", "sqlite:///{parent}/cases.db"),
        ("sqlite+pysqlite:///cases.db?timeout=5", "sqlite+pysqlite:///{dir}/cases.db?timeout=5"),
        ("sqlite:////var/lib/mailbot/cases.db", "sqlite:////var/lib/mailbot/cases.db"),
        ("sqlite://", "sqlite://"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql://mailbot@localhost/mailbot", "postgresql://mailbot@localhost/mailbot"),
    ],
)
def test_database_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, expected: str
) -> None:
    monkeypatch.chdir("/")
    config = load(tmp_path, {"database": {"url": url}})
    assert config.database.url == expected.format(dir=tmp_path, parent=tmp_path.parent)


def test_sqlite_path_does_not_depend_on_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path)
    urls = set()
    for cwd in (tmp_path, Path("/"), tmp_path.parent):
        monkeypatch.chdir(cwd)
        urls.add(load_config(path, env=ENV).database.url)
    assert urls == {f"sqlite:///{tmp_path}/mailbot.sqlite3"}


def test_sqlite_path_with_special_characters_round_trips(tmp_path: Path) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    folder = tmp_path / "a b%20c?d"
    folder.mkdir()
    write_config(folder)
    config = load_config(folder / "config.toml", env=ENV)
    assert sqlalchemy.engine.make_url(config.database.url).database == str(
        folder / "mailbot.sqlite3"
    )


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://x@y/z", "'mysql' is not a supported database"),
        ("postgres://x@y/z", "write postgresql:// instead of postgres://"),
        ("mailbot.sqlite3", "is not a URL"),
        ("sqlite://host/cases.db", "an SQLite URL has three slashes"),
    ],
)
def test_bad_database_url(tmp_path: Path, url: str, fragment: str) -> None:
    problem = only_problem(tmp_path, {"database": {"url": url}})
    assert f"[database] url: {fragment}" in problem


def test_database_repr_without_password() -> None:
    database = DatabaseConfig("postgresql+psycopg://mailbot:pw@db/mailbot")
    assert repr(database) == "DatabaseConfig(url='postgresql+psycopg://mailbot:***@db/mailbot')"


# --------------------------------------------------------------------------------------------
# The example configuration


def test_example_config_loads(tmp_path: Path) -> None:
    example = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    env = {
        example[section]["password_env"]: f"{section}-password"
        for section in ("mailbox", "smtp")
        if "password_env" in example.get(section, {})
    }
    assert env, "the example names the environment variable of the mailbox password"
    config = load_config(EXAMPLE, env=env)
    assert config.mailbox.password.reveal() == "mailbox-password"
    assert config.database.url == f"sqlite:///{REPO}/mailbot.sqlite3"
    assert config.message_id_domain == "gemeente.example"


def test_example_config_documents_every_key() -> None:
    from mailbot.config.schema import SCHEMA as _SCHEMA

    documented: dict[str, set[str]] = {}
    section = ""
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if header := re.fullmatch(r"\[(\w+)\]", line):
            section = header.group(1)
            documented[section] = set()
        elif section and (key := re.match(r"(?:# )?(\w+) = ", line)):
            documented[section].add(key.group(1))
    # [services] has no fixed keys: the example shows sample service names there.
    assert documented.pop("services")
    assert documented == {name: set(keys) for name, keys in _SCHEMA.items() if name != "services"}


# --------------------------------------------------------------------------------------------
# ConfigError


def test_config_error_survives_pickling() -> None:
    error = ConfigError(["a: one", "a: two"])
    copy = pickle.loads(pickle.dumps(error))
    assert copy.problems == ["a: one", "a: two"]
    assert str(copy) == "a: one\na: two"


def test_staff_members_services_and_sent_folder(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        {
            "mailbox": {"sent_folder": "Verzonden items"},
            "staff": {"members": ["Collega@gemeente.example"], "authserv_ids": ["MX.example"]},
            "services": {"Omgeving": "omgeving@gemeente.example"},
        },
    )
    assert config.mailbox.sent_folder == "Verzonden items"
    assert config.staff.services == {"omgeving": "omgeving@gemeente.example"}
    assert config.staff.addresses == {"coordinator@gemeente.example", "collega@gemeente.example"}
    assert config.staff.authserv_ids == ("mx.example",)


def test_bad_services_and_members_are_reported(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {"staff": {"members": ["collega"]}, "services": {"omgeving": "omgeving"}},
    )
    assert len(found) == 2, found
    assert "[staff] members: 'collega' is not an e-mail address" in found[0]
    assert "[services] omgeving: expected the service's team address" in found[1]
