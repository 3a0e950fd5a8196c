"""Hypothesis strategies for hostile mail: raw bytes a sender can put in our inbox.

Everything is built at the byte level, because the interesting mail (raw 8-bit headers,
broken encoded-words, multiparts that never close, NUL bytes) cannot be produced by a
correct library. `raw_mails()` draws one whole message; the smaller strategies are there
for tests that aim at one part.
"""

from __future__ import annotations

import base64
import quopri
from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import strategies as st

# -- bits and pieces ------------------------------------------------------------------------

CHARSET_LABELS = [
    "utf-8",
    "UTF-8",
    "iso-8859-1",
    "windows-1252",
    "iso-2022-jp",
    "utf-7",
    "utf-16",
    "koi8-r",
    "x-unknown",
    "",
    'utf-8"; x="',
    "utf-8\x00",
    "unicode-1-1-utf-7",
    "ascii",
]
ENCODINGS_FOR_BYTES = ["utf-8", "latin-1", "cp1252", "utf-16", "shift_jis", "koi8-r"]

BAD_DATES = [
    "31 Dec 9999 23:59:59 -1200",
    "Fri, 31 Dec 9999 23:59:59 -1200",
    "1 Jan 0001 00:00:00 +1400",
    "Mon, 1 Jan 0001 00:00:00 -0000",
    "Tue, 32 Foo 2026 25:61:61 +9999",
    "Wed, 24 Nov 2026 10:00:00",
    "Wed, 24 Nov 26 10:00:00 CEST",
    "24 Nov 2026",
    "yesterday",
    "",
    "Thu, 29 Feb 2026 10:00:00 +0100",
    "Sun, 24 Nov 2026 10:00:00 +2500",
    "Sun, 24 Nov 1969 23:59:59 -0000",
    "0",
    "99999999999999999999",
]

HEADER_NAMES = [
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Auto-Submitted",
    "Authentication-Results",
    "Return-Path",
    "X-Mailer",
    "Content-Type",
    "Content-Transfer-Encoding",
    "MIME-Version",
    "Content-Disposition",
]

# Text with the characters that break things: controls, NUL, surrogate-looking escapes,
# right-to-left marks, combining marks, astral planes.
hostile_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),  # no lone surrogates: they cannot be sent
        st.sampled_from(["\x00", "\r", "\n", "\t", "\x7f", "\x85", "\u2028", "\u202e", "="]),
    ),
    max_size=60,
)


@st.composite
def raw_text_bytes(draw: st.DrawFn, max_size: int = 60) -> bytes:
    """Text in some encoding, or random bytes: what a header or body line may hold."""
    how = draw(st.sampled_from(["encoded", "bytes", "ascii"]))
    if how == "bytes":
        return draw(st.binary(max_size=max_size))
    if how == "ascii":
        return draw(st.text(st.characters(max_codepoint=127), max_size=max_size)).encode()
    text = draw(hostile_text)
    return text.encode(draw(st.sampled_from(ENCODINGS_FOR_BYTES)), errors="replace")


@st.composite
def encoded_words(draw: st.DrawFn) -> bytes:
    """RFC 2047 words: valid, lying about their charset, broken base64, truncated."""
    charset = draw(st.sampled_from(CHARSET_LABELS)).encode("ascii", "replace")
    payload = draw(raw_text_bytes(max_size=40))
    kind = draw(st.sampled_from(["B", "Q", "b", "X"]))
    if kind.upper() == "B":
        text = base64.b64encode(payload)
        if draw(st.booleans()):
            text = text[: draw(st.integers(0, len(text)))]  # broken padding or truncated
    else:
        text = quopri.encodestring(payload, header=True).replace(b"\n", b"")
    word = b"=?" + charset + b"?" + kind.encode() + b"?" + text + b"?="
    if draw(st.booleans()):
        word = word[: draw(st.integers(0, len(word)))]  # cut anywhere
    return word


@st.composite
def addresses(draw: st.DrawFn) -> bytes:
    """One From/To value: plain, named, quoted, encoded, several, broken."""
    local = draw(st.from_regex(r"[a-z0-9.+_-]{1,20}", fullmatch=True)).encode()
    domain = draw(st.sampled_from([b"burger.example", b"gemeente.example", b"x", b""]))
    addr = local + b"@" + domain
    name = draw(st.one_of(raw_text_bytes(max_size=30), encoded_words()))
    forms = [
        addr,
        name + b" <" + addr + b">",
        b'"' + name.replace(b'"', b"") + b'" <' + addr + b">",
        name + b" <" + addr,  # missing bracket
        addr + b", " + name + b" <other@evil.example>",  # two mailboxes
        b"<" + addr + b">",
        name,  # no address at all
        b"undisclosed-recipients:;",
        b"=?utf-8?q?a=40evil.example?= <" + addr + b">",
        addr * draw(st.integers(1, 40)),  # very long
    ]
    return draw(st.sampled_from(forms))


@st.composite
def header_values(draw: st.DrawFn, name: str) -> bytes:
    lname = name.lower()
    if lname in ("from", "to", "cc", "reply-to"):
        return draw(addresses())
    if lname == "date":
        return draw(
            st.one_of(
                st.sampled_from(BAD_DATES).map(str.encode),
                st.datetimes(timezones=st.timezones()).map(
                    lambda d: d.strftime("%a, %d %b %Y %H:%M:%S %z").encode()
                ),
            )
        )
    if lname in ("message-id", "in-reply-to", "references"):
        ident = draw(st.from_regex(r"[!-;=?-~]{0,40}", fullmatch=True)).encode()
        forms = [b"<" + ident + b">", ident, b"<" + ident, b"<>", b"<" + ident + b"> " * 30]
        return draw(st.sampled_from(forms))
    parts = draw(st.lists(st.one_of(raw_text_bytes(), encoded_words()), max_size=4))
    value = b" ".join(parts)
    if draw(st.integers(0, 9)) == 0:
        value *= draw(st.integers(50, 2000))  # a huge header line, unfolded
    return value


@st.composite
def header_blocks(draw: st.DrawFn) -> list[bytes]:
    """Header lines (without line ends): the usual fields, repeated, odd, or malformed."""
    names = draw(st.lists(st.sampled_from(HEADER_NAMES), max_size=12))
    lines = [name.encode() + b": " + draw(header_values(name)) for name in names]
    extra = draw(
        st.lists(
            st.sampled_from(
                [
                    b"X-Broken header without colon",
                    b" folded continuation first",
                    b"\x00: nul name",
                    b"Subject:",
                    b"From:",
                    b"X-\xff\xfe: raw 8-bit name",
                    b"Content-Type: multipart/mixed",  # no boundary
                ]
            ),
            max_size=2,
        )
    )
    lines += extra
    return draw(st.permutations(lines))


# -- MIME trees -----------------------------------------------------------------------------


@dataclass
class Part:
    """One node of a MIME tree; rendered to bytes by render()."""

    content_type: bytes
    headers: list[bytes] = field(default_factory=list)
    body: bytes = b""
    children: list[Part] = field(default_factory=list)
    boundary: bytes | None = None
    close: bool = True  # write the closing boundary


def _encode_body(data: bytes, cte: str) -> bytes:
    if cte == "base64":
        return base64.encodebytes(data)
    if cte == "base64-broken":
        return base64.encodebytes(data)[:-3] + b"!!\n"
    if cte == "quoted-printable":
        return quopri.encodestring(data)
    if cte == "qp-broken":
        return data + b"=\n=ZZ=4"
    return data


@st.composite
def leaf_parts(draw: st.DrawFn) -> Part:
    ctype = draw(
        st.sampled_from(
            [
                b"text/plain",
                b"text/html",
                b"application/octet-stream",
                b"application/pdf",
                b"image/jpeg",
                b"message/rfc822",
                b"text/rfc822-headers",
                b"message/delivery-status",
                b"text/x-unknown",
                b"",
                b"garbage",
            ]
        )
    )
    charset = draw(st.sampled_from(CHARSET_LABELS)).encode("ascii", "replace")
    cte = draw(
        st.sampled_from(
            ["7bit", "8bit", "binary", "base64", "base64-broken", "quoted-printable", "qp-broken"]
        )
    )
    if ctype == b"message/rfc822":
        inner = b"\r\n".join(draw(header_blocks())) + b"\r\n\r\n" + draw(raw_text_bytes())
        data = inner
    elif ctype == b"text/html":
        data = b"<html><body><p>" + draw(raw_text_bytes(200)) + b"</p><script>x</script>"
    else:
        data = draw(raw_text_bytes(200))
    label = {"base64-broken": "base64", "qp-broken": "quoted-printable"}.get(cte, cte)
    headers = [b"Content-Transfer-Encoding: " + label.encode()]
    if draw(st.booleans()):
        filename = draw(st.one_of(raw_text_bytes(40), encoded_words()))
        headers.append(b'Content-Disposition: attachment; filename="' + filename + b'"')
    return Part(
        content_type=ctype + (b"; charset=" + charset if draw(st.booleans()) else b""),
        headers=headers,
        body=_encode_body(data, cte),
    )


def _multipart(children: st.SearchStrategy[list[Part]]) -> st.SearchStrategy[Part]:
    @st.composite
    def build(draw: st.DrawFn) -> Part:
        subtype = draw(st.sampled_from([b"mixed", b"alternative", b"related", b"report", b"x"]))
        boundary = draw(
            st.sampled_from([b"b1", b"=_Part_0", b"", b"a" * 80, b'"quoted"', b"--", b"\xff"])
        )
        return Part(
            content_type=b"multipart/" + subtype + b"; boundary=" + boundary,
            children=draw(children),
            boundary=boundary.strip(b'"'),
            close=draw(st.booleans()),
        )

    return build()


mime_trees: st.SearchStrategy[Part] = st.recursive(
    leaf_parts(), lambda children: _multipart(st.lists(children, max_size=4)), max_leaves=12
)


@st.composite
def deep_trees(draw: st.DrawFn) -> Part:
    """A multipart nested far deeper than any mail should be (a parser's recursion)."""
    depth = draw(st.integers(20, 400))
    node = draw(leaf_parts())
    for n in range(depth):
        node = Part(
            content_type=b"multipart/mixed; boundary=d" + str(n).encode(),
            children=[node],
            boundary=b"d" + str(n).encode(),
        )
    return node


def render(part: Part, eol: bytes = b"\r\n") -> bytes:
    head = [b"Content-Type: " + part.content_type, *part.headers]
    return eol.join(head) + eol + eol + _render_body(part, eol)


def _render_body(part: Part, eol: bytes) -> bytes:
    if part.boundary is None:
        return part.body
    out = [b"preamble"]
    for child in part.children:
        out.append(b"--" + part.boundary)
        out.append(render(child, eol))
    if part.close:
        out.append(b"--" + part.boundary + b"--")
    return eol.join(out) + eol


# -- whole messages -------------------------------------------------------------------------

LINE_ENDS: list[Callable[[bytes], bytes]] = [
    lambda data: data,  # CRLF, as IMAP hands mail over
    lambda data: data.replace(b"\r\n", b"\n"),
    lambda data: data.replace(b"\r\n", b"\r"),
]


@st.composite
def raw_mails(draw: st.DrawFn, deep: bool = False) -> bytes:
    """One hostile message: odd headers over a MIME tree, any line ends, maybe NULs."""
    headers = draw(header_blocks())
    tree = draw(deep_trees() if deep else mime_trees)
    raw = b"\r\n".join(headers) + b"\r\n" + render(tree)
    raw = draw(st.sampled_from(LINE_ENDS))(raw)
    if draw(st.integers(0, 5)) == 0:
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + b"\x00" * draw(st.integers(1, 4)) + raw[at:]
    return raw
