"""Charsets and RFC 2047 encoded-words: bytes to text, never raising.

Charset labels lie, are missing or are unknown; raw 8-bit header bytes are kept by compat32
as lone surrogates. Every fallback taken is written to ``defects`` in plain English.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import functools
import re
from email.message import Message

# Bytes 0x80-0x9F are C1 controls in ISO-8859-1 but printable (smart quotes, en dash, euro)
# in Windows-1252, which is what a mail labelled iso-8859-1 with such bytes really is.
_C1_BYTES = re.compile(rb"[\x80-\x9f]")
_C1_CHARS = re.compile("[\x80-\x9f]")
# RFC 2047 §2 encoded-word. The text part is allowed to contain spaces here because broken
# encoders emit them; it can never cross a "?" and so never swallows the next word.
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?]*)\?=")
# RFC 5322 §2.2.3: unfolding removes a CRLF that is followed by white space.
_LONE_SURROGATE = re.compile("[\udc80-\udcff]")
FOLD = re.compile(r"\r?\n(?=[ \t])")
# Codecs whose ASCII bytes do not mean ASCII text ("+AOk-" is "é" in UTF-7).
_WIDE_CODECS = frozenset("utf-7 utf-16 utf-16-le utf-16-be utf-32 utf-32-le utf-32-be".split())
# Codecs that exist in Python but are not charsets a mail can honestly declare.
_REFUSED_CODECS = frozenset({"unicode-escape", "raw-unicode-escape", "idna", "punycode"})
_LATIN_CODECS = frozenset({"latin-1", "iso8859-1"})
# Stateful 7-bit charsets: escape sequences (ISO-2022-JP, RFC 1468; -JP-2, RFC 1554;
# ISO-2022-KR, RFC 1557) or "~{" (HZ, RFC 1843) switch to a double-byte set, so ASCII
# bytes are not ASCII text either. Python's codec names for them.
_STATEFUL_PREFIXES = ("iso2022_", "hz")
# Tried in order for escape sequences in a header without any charset label.
_UNLABELLED_ESCAPE_CODECS = ("iso2022_jp_2", "iso2022_kr")


@functools.lru_cache(maxsize=512)
def _resolve_charset(label: str | None) -> tuple[str, str]:
    """Classify a charset label once: (kind, codec name).

    kind is "none" (no label), "ascii", "latin" (read as cp1252, as the WHATWG Encoding
    Standard does for these labels), "unknown", or "codec". The cache is bounded because
    labels come from senders.
    """
    if not label:
        return "none", ""
    cleaned = label.strip().strip("\"'").split("*", 1)[0].strip().lower()
    if not cleaned:
        return "none", ""
    try:
        name = codecs.lookup(cleaned).name
        # Non-text codecs (base64, zlib) fail here; "undefined" raises UnicodeError.
        b"a".decode(name)
    except (LookupError, ValueError):
        return "unknown", ""
    if name in _REFUSED_CODECS:
        return "unknown", ""
    if name == "ascii":
        return "ascii", "ascii"
    if name in _LATIN_CODECS:
        return "latin", "cp1252"
    return "codec", name


def _printable_label(label: str) -> str:
    return "".join(ch for ch in label if " " < ch < "\x7f")[:40] or "?"


def cp1252(data: bytes) -> str:
    return data.decode("cp1252", "replace")


def decode_bytes(data: bytes, label: str | None, where: str, defects: list[str]) -> str:
    """Decode text whose charset label may be missing, wrong or unknown; never raises."""
    kind, codec = _resolve_charset(label)
    if data.isascii() and not _ascii_is_not_text(codec):
        return data.decode("ascii")
    if kind in ("none", "ascii", "unknown"):
        # Undeclared 8-bit text is UTF-8 or cp1252 in practice; valid UTF-8 is very
        # unlikely to be cp1252 by accident, so UTF-8 is tried first.
        try:
            text = data.decode("utf-8")
            used = "utf-8"
        except UnicodeDecodeError:
            text = cp1252(data)
            used = "cp1252"
        if kind == "unknown":
            defects.append(
                f"unknown charset {_printable_label(label or '')} in {where} decoded as {used}"
            )
        elif kind == "ascii":
            defects.append(f"8-bit {where} labelled us-ascii decoded as {used}")
        elif used == "cp1252":
            defects.append(f"undeclared 8-bit {where} decoded as cp1252")
        return text
    if kind == "latin":
        if _C1_BYTES.search(data):
            defects.append(
                f"windows-1252 {where} labelled {_printable_label(label or '')} decoded as cp1252"
            )
        return cp1252(data)
    try:
        text = data.decode(codec)
        text.encode("utf-8")  # utf-16 and friends can yield lone surrogates
    except (UnicodeError, LookupError):
        if codec == "utf-8":
            defects.append(f"invalid utf-8 in {where} decoded as cp1252")
            return cp1252(data)
        defects.append(f"invalid {codec} in {where}: undecodable bytes replaced")
        text = data.decode(codec, "replace")
        try:
            text.encode("utf-8")
        except UnicodeError:
            text = cp1252(data)
    return text


def _ascii_is_not_text(codec: str) -> bool:
    return codec in _WIDE_CODECS or codec.startswith(_STATEFUL_PREFIXES)


def decode_escapes(text: str, where: str, defects: list[str]) -> str:
    """Unlabelled ISO-2022 escape sequences in a header (old Japanese mailers wrote raw
    ISO-2022-JP, RFC 1468, into headers) decoded; other text is returned unchanged."""
    if "\x1b" not in text or not text.isascii():
        return text
    for codec in _UNLABELLED_ESCAPE_CODECS:
        try:
            decoded = text.encode("ascii").decode(codec)
        except UnicodeError:
            continue
        defects.append(f"unlabelled {codec} in {where} decoded")
        return decoded
    return text


def unsurrogate(value: str, where: str, defects: list[str]) -> str:
    """Compat32 keeps raw 8-bit header bytes as lone surrogates; decode them properly."""
    if value.isascii():
        return value
    try:
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return decode_bytes(data, None, where, defects)


def fix_c1(text: str) -> str:
    """Text decoded as ISO-8859-1 that holds C1 controls was really Windows-1252."""
    if _C1_CHARS.search(text) is None:
        return text
    try:
        return text.encode("latin-1").decode("cp1252", "replace")
    except UnicodeError:
        return text


def _word_bytes(encoding: str, text: str) -> tuple[bytes | None, bool]:
    """The octets of an encoded-word's text, and whether it had to be cut short."""
    data = text.encode("utf-8", "surrogateescape")
    if encoding not in "Bb":
        # RFC 2047 §4.2: "_" is a space and =XX an octet; a2b_qp(header=True) does both.
        return binascii.a2b_qp(data, header=True), False
    data = data.strip()
    try:
        return base64.b64decode(data + b"=" * (-len(data) % 4)), False
    except (binascii.Error, ValueError):
        pass
    # A truncated word (one stray character after the last full quantum): keep what
    # decodes, as mail clients do, rather than showing the raw word.
    try:
        return base64.b64decode(data[: len(data) - len(data) % 4]), True
    except (binascii.Error, ValueError):
        return None, True


def decode_words(text: str, where: str, defects: list[str]) -> str:
    """Decode RFC 2047 encoded-words in any charset, falling back instead of failing."""
    if "=?" not in text:
        return text
    pieces: list[str | tuple[str, bytes]] = []
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        gap = text[pos : match.start()]
        pos = match.end()
        # RFC 2047 §6.2: white space between adjacent encoded-words is not displayed.
        if gap and not (gap.isspace() and pieces and isinstance(pieces[-1], tuple)):
            pieces.append(gap)
        charset = match.group(1).split("*", 1)[0]  # RFC 2231 §5 adds "*language"
        data, damaged = _word_bytes(match.group(2), match.group(3))
        if data is None:
            defects.append(f"undecodable encoded-word in {where} kept as is")
            pieces.append(match.group(0))
            continue
        if damaged:
            defects.append(f"truncated encoded-word in {where} partly decoded")
        previous = pieces[-1] if pieces else None
        # Encoders that split one multi-byte character over two words are common, so
        # adjacent words in the same charset are joined before decoding.
        if isinstance(previous, tuple) and previous[0].lower() == charset.lower():
            pieces[-1] = (previous[0], previous[1] + data)
        else:
            pieces.append((charset, data))
    pieces.append(text[pos:])
    decoded = "".join(
        piece if isinstance(piece, str) else decode_bytes(piece[1], piece[0], where, defects)
        for piece in pieces
    )
    if _LONE_SURROGATE.search(decoded):
        # Raw 8-bit octets of a word that could not be decoded (see repair._words_kept).
        return unsurrogate(decoded, where, defects)
    return decoded


def header_text(value: str, where: str, defects: list[str]) -> str:
    """A header value as a person reads it: 8-bit decoded, unfolded, words decoded."""
    text = decode_escapes(unsurrogate(value, where, defects), where, defects)
    if "\n" in text:
        text = FOLD.sub("", text)
    if "=?" in text:
        text = decode_words(text, where, defects)
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text.strip()


def part_text(part: Message, where: str, defects: list[str]) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return decode_bytes(payload, part.get_content_charset(), where, defects)
