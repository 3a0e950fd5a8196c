"""One section of the file as typed getters: each records a problem and returns a placeholder.

A getter never raises: it appends a line naming the file, ``[section] key`` and what is
expected (from :data:`mailbot.config.schema.SCHEMA`) to the shared list of problems, so that
one run reports every mistake.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from mailbot.config.model import DEFAULT_TIMEZONE, ascii_domain
from mailbot.config.schema import SCHEMA, Choice, Flag, OptionalText, Seconds, Whole

_LABEL = r"[^\W_]+(?:-+[^\W_]+)*"
ADDRESS: Final = re.compile(rf"[^@\s<>()\[\],;:\"\\]+@{_LABEL}(?:\.{_LABEL})+")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

_T = TypeVar("_T")
_MISSING: Final = object()


@dataclass(slots=True)
class Source:
    """The file being read: its name as given, its folder, the environment, the problems."""

    label: str
    base: Path
    env: Mapping[str, str]
    problems: list[str] = field(default_factory=list)
    secrets: bool = True  # False: read no secret (commands that connect to no mail server)


class Table:
    """One section: typed getters that record a problem and return a placeholder on error."""

    def __init__(self, source: Source, name: str, data: Mapping[str, Any]) -> None:
        self.source = source
        self.name = name
        self.data = data
        self.keys = SCHEMA[name]
        self.failed: set[str] = set()

    # -- reporting ---------------------------------------------------------------------------

    def report(self, key: str, message: str) -> None:
        self.failed.add(key)
        self.source.problems.append(f"{self.source.label}: [{self.name}] {key}: {message}")

    def _expected(self, key: str) -> str:
        spec = self.keys[key]
        return f"expected {spec.expect}, e.g. {spec.example}"

    def missing(self, key: str, reason: str = "") -> None:
        why = f" ({reason})" if reason else ""
        self.report(key, f"missing{why}; {self._expected(key)}")

    def invalid(self, key: str, reason: str) -> None:
        self.report(key, f"{reason}; {self._expected(key)}")

    def check_unknown(self) -> None:
        for key in self.data:
            if key in self.keys:
                continue
            match = difflib.get_close_matches(key, list(self.keys), n=1)
            owners = [s for s, keys in SCHEMA.items() if key in keys and s != self.name]
            if match:
                hint = f"did you mean {match[0]!r}?"
            elif owners:
                hint = f"{key!r} belongs in " + " or ".join(f"[{s}]" for s in owners)
            else:
                hint = "known keys: " + ", ".join(self.keys)
            self.report(key, f"unknown key; {hint}")

    # -- raw access --------------------------------------------------------------------------

    def _get(self, key: str, expected: str, accept: Callable[[object], bool]) -> object:
        """The value if present and of an accepted type; _MISSING if absent or wrong."""
        if key not in self.data:
            return _MISSING
        value: object = self.data[key]
        if accept(value):
            return value
        secret = self.keys[key].secret
        hint = ""
        if isinstance(value, str) and expected != "a string" and _is_number(value):
            hint = "; remove the quotes"
        elif expected == "a string" and isinstance(value, int | float):
            hint = "; put the value in quotes"
        elif expected == "a whole number" and isinstance(value, float) and value.is_integer():
            hint = "; leave out the decimal point"
        self.report(
            key,
            f"expected {expected}, e.g. {self.keys[key].example}; "
            f"{got(value, secret=secret)}{hint}",
        )
        return _MISSING

    def string(self, key: str) -> str | None:
        value = self._get(key, "a string", lambda v: isinstance(v, str))
        return value if isinstance(value, str) else None

    # -- typed getters -----------------------------------------------------------------------

    def text(self, key: str, default: str | None = None, *, allow_empty: bool = False) -> str:
        """A string; required when default is None. Placeholder on error: default or ''."""
        value = self.string(key)
        if value is None:
            if key not in self.data and default is None:
                self.missing(key)
            return "" if default is None else default
        if not allow_empty and not value.strip():
            self.invalid(key, "is empty")
            return "" if default is None else default
        return value

    def optional_text(self, key: str) -> str | None:
        value = self.string(key)
        if value is not None and not value.strip():
            self.invalid(key, "is empty; leave the key out instead")
            return None
        return value

    def host(self, key: str) -> str:
        host = self.text(key)
        if key in self.failed:
            return host
        if "://" in host:
            self.invalid(key, f"{host!r} is a URL; give only the host name")
        elif re.fullmatch(r"[^:\s]+:\d+", host):
            self.invalid(key, f"{host!r} contains a port; put the port in port = ...")
        elif re.search(r"[\s/@]", host) or host.startswith("."):
            self.invalid(key, f"{host!r} is not a host name")
        return host

    def address(self, key: str, *, what: str) -> str:
        value = self.text(key)
        if key in self.failed:
            return value
        if "<" in value or '"' in value:
            self.invalid(key, f"{value!r} is more than an address; give {what}")
        elif not ADDRESS.fullmatch(value):
            self.invalid(key, f"{value!r} is not an e-mail address")
        else:
            try:
                ascii_domain(value.rpartition("@")[2])
            except UnicodeError:
                self.invalid(key, f"the domain of {value!r} is not a valid domain name")
        return value

    def integer(self, key: str, default: int, minimum: int, maximum: int | None) -> int:
        value = self.optional_integer(key, minimum, maximum)
        return default if value is None else value

    def optional_integer(self, key: str, minimum: int, maximum: int | None) -> int | None:
        value = self._get(key, "a whole number", is_int)
        if not isinstance(value, int):
            return None
        if value < minimum or (maximum is not None and value > maximum):
            limit = f"from {minimum} to {maximum}" if maximum is not None else f"{minimum} or more"
            self.invalid(key, f"{value} is out of range ({limit})")
            return None
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, "true or false", lambda v: isinstance(v, bool))
        return value if isinstance(value, bool) else default

    def string_list(self, key: str) -> list[str]:
        value = self._get(
            key,
            "a list of strings",
            lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
        )
        return list(value) if isinstance(value, list) else []

    def int_list(self, key: str, default: tuple[int, ...], minimum: int) -> tuple[int, ...]:
        value = self._get(
            key,
            "a list of whole numbers",
            lambda v: isinstance(v, list) and all(is_int(i) for i in v),
        )
        if not isinstance(value, list):
            return default
        if any(i < minimum for i in value):
            self.invalid(key, f"{value} has a number below {minimum}")
            return default
        return tuple(value)

    def number(self, key: str, default: float) -> float:
        """A finite number of seconds above zero; integers are accepted."""
        value = self._get(key, "a number", _is_number_value)
        if not isinstance(value, int | float):
            return default
        number = float(value)
        if not math.isfinite(number) or number <= 0:
            self.invalid(key, f"{value} is not a number of seconds more than 0")
            return default
        return number

    def choice(
        self, key: str, default: _T, options: Mapping[str, _T], aliases: Mapping[str, str]
    ) -> _T:
        value = self.string(key)
        if value is None:
            return default
        folded = value.strip().lower()
        if folded in options:
            return options[folded]
        suggestion: str | None = aliases.get(folded)
        if suggestion is None:
            match = difflib.get_close_matches(folded, list(options), n=1)
            suggestion = str(options[match[0]]) if match else None
        did_you_mean = f" (did you mean {suggestion!r}?)" if suggestion else ""
        self.invalid(key, f"{value!r} is not allowed{did_you_mean}")
        return default

    def optional_path(self, key: str) -> Path | None:
        value = self.optional_text(key)
        if value is None:
            return None
        return self.source.base / value

    def ca_file(self, key: str) -> Path | None:
        path = self.optional_path(key)
        if path is None:
            return None
        if not path.is_file():
            self.invalid(key, f"{path} {'is not a file' if path.exists() else 'does not exist'}")
            return path
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
        except ssl.SSLError:
            self.invalid(key, f"{path} holds no PEM certificates")
        except OSError as exc:
            self.invalid(key, f"cannot read {path}: {exc.strerror}")
        return path

    def timezone(self, key: str) -> ZoneInfo:
        name = self.text(key, DEFAULT_TIMEZONE)
        if key in self.failed:
            return ZoneInfo("UTC")
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            zones = sorted(available_timezones())
            lowered = {zone.lower(): zone for zone in zones}
            if name.lower() in lowered:
                match = [lowered[name.lower()]]
            else:
                match = difflib.get_close_matches(name, zones, n=1)
            hint = f" (did you mean {match[0]!r}?)" if match else ""
            self.invalid(key, f"{name!r} is not a known time zone{hint}")
            return ZoneInfo("UTC")

    def distinct_folders(self, *folders: tuple[str, str]) -> None:
        seen: dict[str, str] = {}
        for key, name in folders:
            if key in self.failed:
                continue
            normal = "INBOX" if name.upper() == "INBOX" else name
            if normal in seen:
                self.invalid(key, f"{name!r} is the same folder as {seen[normal]}")
            else:
                seen[normal] = key

    # -- plain keys: read by their kind in the schema ----------------------------------------

    def plain(self, cls: type[Any]) -> dict[str, Any]:
        """Every plain key (one with a kind in the schema) that is a field of the dataclass
        ``cls``, in the order of its fields, read with the field's default."""
        return {
            item.name: self.value(item.name, item.default)
            for item in dataclasses.fields(cls)
            if item.name in self.keys and self.keys[item.name].kind is not None
        }

    def value(self, key: str, default: Any) -> Any:
        """A plain key, read and checked as its kind in the schema says."""
        match self.keys[key].kind:
            case Flag():
                return self.boolean(key, default)
            case Whole(minimum, maximum) if default is None:
                return self.optional_integer(key, minimum, maximum)
            case Whole(minimum, maximum):
                return self.integer(key, default, minimum, maximum)
            case Seconds():
                return self.number(key, default)
            case OptionalText():
                return self.optional_text(key)
            case Choice(options, aliases):
                return self.choice(key, default, options, aliases)
        raise KeyError(f"[{self.name}] {key} has no kind in the schema")

    def optional_date(self, key: str) -> date | None:
        """A day, as a TOML date (2027-11-30) or a string ("2027-11-30")."""
        if key not in self.data:
            return None
        value = self.data[key]
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str) and _DAY.fullmatch(value.strip()):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                self.invalid(key, f"{value!r} is not a day of the calendar")
                return None
        self.invalid(key, got(value, secret=False))
        return None


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number_value(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_number(text: str) -> bool:
    try:
        float(text.strip())
    except ValueError:
        return False
    return True


_KINDS: Final[Iterable[tuple[type, str, str]]] = (
    (bool, "a", "boolean"),
    (int, "an", "integer"),
    (float, "a", "number"),
    (str, "a", "string"),
    (datetime, "a", "date-time"),
    (date, "a", "date"),
    (time, "a", "time"),
    (list, "an", "array"),
    (dict, "a", "table"),
)


def got(value: object, *, secret: bool) -> str:
    """'got the string '993'' — or only the kind of value for secrets, arrays and tables."""
    article, name = next(
        ((a, n) for kind, a, n in _KINDS if isinstance(value, kind)),
        ("a", type(value).__name__),
    )
    if secret or isinstance(value, list | dict):
        return f"got {article} {name}"
    if isinstance(value, bool):
        return f"got {str(value).lower()}"
    shown = repr(value) if isinstance(value, str) else str(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"got the {name} {shown}"


def has_control(text: str) -> bool:
    return any(ord(char) < 32 or ord(char) == 127 for char in text)
