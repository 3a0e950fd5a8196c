"""The body staff read: text/plain parts, else the HTML as plain text, else a named
inline text part."""

from __future__ import annotations

import html as htmllib
import logging
import re

import html2text

from mailbot.inbound.parse.charset import part_text
from mailbot.inbound.parse.tree import Parts, content_type

log = logging.getLogger(__name__)

_LINE_BREAKS = re.compile(r"\r\n?")
_BLANK_RUNS = re.compile(r"\n{3,}")
_BLANK_LINES = re.compile(r"\n[ \t\xa0]*\n(?:[ \t\xa0]*\n)+")
# What a browser never shows, as (opening, closing) markers for the tag-stripping fallback.
_HTML_INVISIBLE = (("<!--", "-->"), ("<style", "</style"), ("<script", "</script"))
_TRAILING_SPACE = re.compile(r"[ \t\xa0]+$", re.MULTILINE)
# html2text escapes Markdown at line starts ("1\.", "\-", "\+") and every backslash that
# precedes a Markdown character; staff read plain text, so undo exactly those escapes.
_MD_LINE_ESCAPE = re.compile(r"^(\s*)(\d+)\\\.(?=\s)|^(\s*)\\([-+])(?=[\s-])", re.MULTILINE)
_MD_BACKSLASH_ESCAPE = re.compile(r"\\\\(?=[\\`*_{}\[\]()#+\-.!])")


def _strip_tags(html: str) -> str:
    """Text of an HTML document without a parser, in one linear pass (hostile input)."""
    lower = html.lower()
    out: list[str] = []
    pos = 0
    while (start := html.find("<", pos)) >= 0:
        out.append(html[pos:start])
        closer = next((c for o, c in _HTML_INVISIBLE if lower.startswith(o, start)), ">")
        end = lower.find(closer, start + 1)
        if end < 0:
            return "".join(out)  # an unclosed tag or comment hides the rest, as in a browser
        gt = html.find(">", end)
        pos = gt + 1 if gt >= 0 else len(html)
        out.append(" ")
    out.append(html[pos:])
    return "".join(out)


def _html_to_text(html: str, defects: list[str]) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0  # no hard wrapping: staff read it in a wide view
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True  # keep "é" and "–" instead of ASCII look-alikes
    converter.inline_links = True  # [text](url) in place, no numbered reference list
    try:
        text = str(converter.handle(html))
    except Exception:  # hostile HTML reaches html.parser, which is not hardened for it
        # Python 3.11's html.parser raises AssertionError on a malformed "<![...]>"
        # marked section; a mail must still yield its words, so strip the tags instead.
        log.debug("html2text failed; stripping tags", exc_info=True)
        defects.append("HTML could not be converted: tags stripped")
        text = _strip_tags(html)
        text = _BLANK_LINES.sub("\n\n", htmllib.unescape(text))
    else:
        text = _MD_LINE_ESCAPE.sub(lambda m: f"{m[1]}{m[2]}." if m[2] else f"{m[3]}{m[4]}", text)
        text = _MD_BACKSLASH_ESCAPE.sub(r"\\", text)
    text = _TRAILING_SPACE.sub("", text)
    return _BLANK_RUNS.sub("\n\n", text)


def _normalise_text(text: str) -> str:
    if "\r" in text:
        text = _LINE_BREAKS.sub("\n", text)
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text.lstrip("\n").rstrip()


def body_text(parts: Parts, defects: list[str]) -> str:
    """The text/plain parts; else the HTML as text; else named inline text parts."""
    plain = [text for text in parts.plain if text.strip()]
    if plain:
        return "\n\n".join(_normalise_text(text) for text in plain)
    html = [part_text(part, "text/html part", defects) for part in parts.html]
    html = [text for text in html if text.strip()]
    if html:
        return _normalise_text(_html_to_text("\n".join(html), defects))
    for part in parts.named_inline_text:
        text = part_text(part, f"{content_type(part)} part", defects)
        if text.strip():
            if part.get_content_subtype() == "html":
                text = _html_to_text(text, defects)
            return _normalise_text(text)
    return ""
