"""Charts for the yearly report: matplotlib on the Agg backend (no display, no network),
as SVG text to inline in the HTML. Text is drawn as paths, so the file needs no font and
looks the same on every computer and in a PDF."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

MONTHS = ("jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec")
BLUE, GREY = "#1f5a96", "#9aa5b1"

_ID = re.compile(r'\bid="([^"]+)"')


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.fonttype": "path",  # glyphs as paths: no font needed where it is viewed
            "svg.hashsalt": "mailbot",  # the same data gives the same file
            "font.family": "DejaVu Sans",  # ships with matplotlib itself
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    return plt


def _svg(figure: Any, name: str) -> str:
    """The figure as an inline <svg> element; its ids prefixed with `name`, so that several
    charts in one page never share an id."""
    plt = _pyplot()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    for old in set(_ID.findall(text)):
        new = f"{name}-{old}"
        text = text.replace(f'id="{old}"', f'id="{new}"')
        text = text.replace(f"#{old})", f"#{new})").replace(f'#{old}"', f'#{new}"')
    return text.replace("<svg ", f'<svg role="img" aria-label="{name}" ', 1)


def months_chart(
    name: str, year: int, months: Sequence[int], previous: Sequence[int] | None
) -> str:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7.0, 2.6))
    positions = range(12)
    axes.bar(positions, months, color=BLUE, label=str(year))
    if previous is not None:
        axes.plot(positions, previous, color=GREY, marker="o", label=str(year - 1))
        axes.legend(frameon=False)
    axes.set_xticks(list(positions), MONTHS)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.set_ylabel("dossiers")
    return _svg(figure, name)


def bar_chart(name: str, labels: Sequence[str], values: Sequence[int]) -> str:
    """Horizontal bars, largest on top, each with its number."""
    plt = _pyplot()
    height = 0.6 + 0.32 * max(1, len(labels))
    figure, axes = plt.subplots(figsize=(7.0, height))
    order = list(range(len(labels)))[::-1]
    bars = axes.barh(
        [labels[i] for i in order] or [""], [values[i] for i in order] or [0], color=BLUE
    )
    axes.bar_label(bars, padding=3)
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.spines["bottom"].set_visible(False)
    axes.set_xticks([])
    return _svg(figure, name)
