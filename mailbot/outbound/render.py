"""Dutch texts from Jinja2 templates: `<name>.subject.txt`, `<name>.txt`, `<name>.html`.

Operators may point `[templates] folder` at their own folder; a template found there
wins, anything missing falls back to the bundled one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_decimal
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

# A link to the top-level templates/ in a checkout; real files in an installed wheel.
BUNDLED_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LOCALE = "nl_BE"


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


@functools.lru_cache(maxsize=4096)
def _long_date(value: date) -> str:
    # babel parses the locale and the pattern on every call: a digest over many cases
    # shows the same few hundred dates thousands of times.
    return str(format_date(value, format="d MMMM y", locale=LOCALE))


def number(value: int) -> str:
    """'1.234': a count as a Flemish reader writes it."""
    return str(format_decimal(value, locale=LOCALE))


class TemplateRenderer:
    def __init__(self, timezone: ZoneInfo, folder: Path | None = None) -> None:
        folders = [str(folder)] if folder else []
        folders.append(str(BUNDLED_TEMPLATES))
        self._env = Environment(
            loader=ChoiceLoader([FileSystemLoader(f) for f in folders]),
            undefined=StrictUndefined,
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,  # compiled once; no stat() per {% include %} in a loop
        )
        self._timezone = timezone
        self._env.filters["datum"] = self.long_date
        self._env.filters["datumtijd"] = self.long_datetime
        self._env.filters["getal"] = number

    def long_date(self, value: date | datetime) -> str:
        """'24 december 2026', in the municipality's time zone for moments."""
        if isinstance(value, datetime):
            value = value.astimezone(self._timezone).date()
        return _long_date(value)

    def long_datetime(self, value: datetime) -> str:
        """'24 december 2026 om 14:05'."""
        local = value.astimezone(self._timezone)
        # babel's "d MMMM y 'om' HH:mm", with the date part from the cache (a backlog
        # has one moment a mail, and babel parses its pattern on every call)
        return f"{_long_date(local.date())} om {local:%H:%M}"

    def render(self, name: str, **context: Any) -> RenderedMail:
        subject = self._env.get_template(f"{name}.subject.txt").render(**context)
        text = self._env.get_template(f"{name}.txt").render(**context)
        html = self._env.get_template(f"{name}.html").render(**context)
        return RenderedMail(subject=" ".join(subject.split()), text=text, html=html)
