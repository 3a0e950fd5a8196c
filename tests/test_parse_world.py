"""Readable mail as the world sends it is read, and read right (issue 12 §2).

Each mail below is written byte for byte here, in the shape real mailers produce, with the
RFC it exercises (or breaks). The assertions are what the desk would notice: the citizen's
name and address, the subject, the first words of the text; and that none of these mails
is refused as "not a mail" (which would put it in quarantine).
"""

from __future__ import annotations

import base64

import pytest

from mailbot.domain.model import AddressIssue, InboundMail
from mailbot.inbound.parse import parse_mail

TAIL = b"To: klachten@gemeente.example\r\nDate: Tue, 01 Dec 2026 10:00:00 +0100\r\n"


def mail(head: bytes, body: bytes = b"De straatlamp is stuk.\r\n") -> bytes:
    return head + TAIL + b"\r\n" + body


def has_defect(parsed: InboundMail, fragment: str) -> bool:
    return any(fragment in defect for defect in parsed.defects)


# --- header oddities: read the headers as Python's email package does ----------------------

# RFC 5322 §2.2 has no room for a line of spaces before the first field; Python's parser
# reads it as an (empty) continuation line and goes on. Seen from a webmail gateway.
LEADING_SPACES = b"   \r\n" + mail(
    b"From: Jan Peeters <jan@example.be>\r\nSubject: Straatlamp\r\nMessage-ID: <s1@example.be>\r\n"
)
LEADING_TAB_LINE = b" \t \n" + mail(
    b"From: Jan Peeters <jan@example.be>\nSubject: Straatlamp\nMessage-ID: <s2@example.be>\n"
).replace(b"\r\n", b"\n")
# RFC 3629 §6: a UTF-8 byte-order mark has no place in a mail (RFC 6532 §3.2 allows UTF-8,
# not a BOM), but Windows tools that save a mail as .eml and re-send it write one.
BOM = b"\xef\xbb\xbf" + mail(
    b"From: Jan Peeters <jan@example.be>\r\nSubject: Straatlamp\r\nMessage-ID: <s3@example.be>\r\n"
)
# RFC 5322 §4.5 obsolete syntax (obs-optional and the obs-* fields): white space is allowed
# between the field name and the colon. Python's feedparser reads "Subject :" as the start
# of the body, so the mail would lose every header after it.
OBSOLETE_COLON = mail(
    b"From : Jan Peeters <jan@example.be>\r\nSubject : Straatlamp\r\n"
    b"Message-ID\t: <s4@example.be>\r\n"
)


@pytest.mark.parametrize(
    "raw",
    [LEADING_SPACES, LEADING_TAB_LINE, BOM, OBSOLETE_COLON],
    ids=["leading-spaces", "leading-blank-tab-line", "utf8-bom", "obsolete-space-colon"],
)
def test_header_oddities_are_read_not_refused(raw: bytes) -> None:
    parsed = parse_mail(raw)
    assert parsed.sender is not None
    assert parsed.sender.email == "jan@example.be"
    assert parsed.sender.name == "Jan Peeters"
    assert parsed.subject == "Straatlamp"
    assert parsed.body_text == "De straatlamp is stuk."
    assert parsed.message_id.startswith("s")
    assert parsed.to[0].email == "klachten@gemeente.example"


def test_a_bom_is_reported_as_a_repair() -> None:
    assert has_defect(parse_mail(BOM), "byte-order mark")


def test_obsolete_from_colon_on_the_first_line_is_no_mbox_separator() -> None:
    # RFC 4155 (mbox): the separator is "From " followed by an address, never by ":".
    parsed = parse_mail(OBSOLETE_COLON)
    assert parsed.sender is not None and parsed.sender.email == "jan@example.be"
    assert parsed.header("Subject") == "Straatlamp"


def test_a_real_mbox_from_line_still_is_one() -> None:
    raw = b"From jan@example.be Tue Dec  1 10:00:00 2026\n" + mail(
        b"From: Jan <jan@example.be>\nSubject: Lamp\nMessage-ID: <m@example.be>\n"
    ).replace(b"\r\n", b"\n")
    parsed = parse_mail(raw)
    assert parsed.subject == "Lamp"
    assert parsed.sender is not None and parsed.sender.name == "Jan"


def test_space_colon_in_the_body_is_left_alone() -> None:
    raw = mail(
        b"From: Jan <jan@example.be>\r\nSubject: Lamp\r\nMessage-ID: <b@example.be>\r\n",
        b"Adres : Kerkstraat 1\r\n",
    )
    assert parse_mail(raw).body_text == "Adres : Kerkstraat 1"


# --- stateful 7-bit charsets ---------------------------------------------------------------

# RFC 1468: ISO-2022-JP is 7-bit; escape sequences switch to JIS X 0208. RFC 2047 words
# carry it in headers; the body is labelled charset=ISO-2022-JP with 7bit encoding.
JIS_NAME = "山田太郎"
JIS_SUBJECT = "道路の穴について"
JIS_BODY = "こんにちは。道路に穴があります。"


def _jis(text: str) -> bytes:
    return text.encode("iso2022_jp")


def _b_word(text: str) -> bytes:
    return b"=?ISO-2022-JP?B?" + base64.b64encode(_jis(text)) + b"?="


ISO_2022_JP = mail(
    b"From: " + _b_word(JIS_NAME) + b" <yamada@example.jp>\r\n"
    b"Subject: " + _b_word(JIS_SUBJECT) + b"\r\n"
    b"Message-ID: <jis1@example.jp>\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n",
    _jis(JIS_BODY) + b"\r\n",
)
# Old Japanese mailers wrote ISO-2022-JP into headers without any encoded-word (never
# allowed by RFC 5322 §2.2, but 7-bit and so it passes every relay).
ISO_2022_JP_RAW_HEADERS = mail(
    b"From: " + _jis(JIS_NAME) + b" <yamada@example.jp>\r\n"
    b"Subject: " + _jis(JIS_SUBJECT) + b"\r\n"
    b"Message-ID: <jis2@example.jp>\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=iso-2022-jp\r\n",
    _jis(JIS_BODY) + b"\r\n",
)


@pytest.mark.parametrize("raw", [ISO_2022_JP, ISO_2022_JP_RAW_HEADERS], ids=["words", "raw"])
def test_iso_2022_jp_is_decoded_in_subject_name_and_body(raw: bytes) -> None:
    parsed = parse_mail(raw)
    assert parsed.subject == JIS_SUBJECT
    assert parsed.sender is not None
    assert parsed.sender.name == JIS_NAME
    assert parsed.sender.email == "yamada@example.jp"
    assert parsed.body_text == JIS_BODY


@pytest.mark.parametrize(
    ("charset", "codec", "text"),
    [
        ("ISO-2022-KR", "iso2022_kr", "도로에 구멍이 있습니다"),  # RFC 1557
        ("HZ-GB-2312", "hz", "路上有一个洞"),  # RFC 1843
        ("ISO-2022-JP-2", "iso2022_jp_2", "Straße und 道路"),  # RFC 1554
    ],
)
def test_other_stateful_7bit_charsets_are_decoded(charset: str, codec: str, text: str) -> None:
    word = b"=?" + charset.encode() + b"?B?" + base64.b64encode(text.encode(codec)) + b"?="
    raw = mail(
        b"From: Kim <kim@example.kr>\r\nSubject: " + word + b"\r\n"
        b"Message-ID: <s7@example.kr>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=" + charset.encode() + b"\r\n",
        text.encode(codec) + b"\r\n",
    )
    parsed = parse_mail(raw)
    assert parsed.subject == text
    assert parsed.body_text == text


# --- a raw 8-bit byte inside an encoded-word is decoded once --------------------------------


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        # RFC 2047 §5 forbids 8-bit octets in an encoded-word; broken encoders copy them in
        # raw, in the charset the word names. Decoding the header as cp1252 first and the
        # word as ISO-8859-1 after gave "FrÃ¶sche".
        (b"=?ISO-8859-1?Q?Fr\xf6sche_im_Teich?=", "Frösche im Teich"),
        (b"=?windows-1252?Q?Fr\xf6sche?= im Teich", "Frösche im Teich"),
        (b"=?UTF-8?Q?Fr\xc3\xb6sche?= im Teich", "Frösche im Teich"),
        (b"Fr\xf6sche =?ISO-8859-1?Q?im_Teich_=E9t=E9?=", "Frösche im Teich été"),
    ],
)
def test_raw_8bit_inside_an_encoded_word_is_decoded_once(word: bytes, expected: str) -> None:
    raw = mail(b"From: Jan <jan@example.be>\r\nSubject: " + word + b"\r\nMessage-ID: <w@x.be>\r\n")
    assert parse_mail(raw).subject == expected


def test_raw_8bit_inside_an_encoded_word_in_a_display_name() -> None:
    raw = mail(
        b"From: =?ISO-8859-1?Q?J=FCrgen_M\xfcller?= <jm@example.de>\r\n"
        b"Subject: Lamp\r\nMessage-ID: <n@x.de>\r\n"
    )
    parsed = parse_mail(raw)
    assert parsed.sender is not None
    assert parsed.sender.name == "Jürgen Müller"
    assert parsed.sender.email == "jm@example.de"


# --- malformed and internationalised citizen addresses ---------------------------------------


def test_trailing_dot_in_the_domain_is_normalised_and_noted() -> None:
    # RFC 5321 §4.1.2: a Domain has no trailing dot (that is DNS notation, RFC 1034 §3.1).
    raw = mail(b"From: Jan <jan.peeters@example.be.>\r\nSubject: Lamp\r\nMessage-ID: <t@x>\r\n")
    parsed = parse_mail(raw)
    assert parsed.sender is not None
    assert parsed.sender.email == "jan.peeters@example.be"
    assert parsed.sender.name == "Jan"
    [note] = parsed.address_notes
    assert note.header == "From"
    assert note.issue is AddressIssue.TRAILING_DOT
    assert note.address == "jan.peeters@example.be"
    assert note.as_written == "jan.peeters@example.be."


@pytest.mark.parametrize(
    "field",
    [b'"jan peeters"@example.be', b'Jan <"jan peeters"@example.be>'],
    ids=["bare", "angle"],
)
def test_quoted_local_part_with_spaces_is_kept_and_noted(field: bytes) -> None:
    # RFC 5322 §3.4.1 and RFC 5321 §4.1.2: a quoted-string local part is valid, but many
    # servers refuse it; the address is kept exactly and reported, never dropped.
    raw = mail(b"From: " + field + b"\r\nSubject: Lamp\r\nMessage-ID: <q@x>\r\n")
    parsed = parse_mail(raw)
    assert parsed.sender is not None
    assert parsed.sender.email == '"jan peeters"@example.be'
    [note] = parsed.address_notes
    assert note.issue is AddressIssue.QUOTED_LOCAL_PART
    assert note.header == "From"


def test_internationalised_address_is_usable_and_noted() -> None:
    # RFC 6532 §3.2: UTF-8 in headers, addresses included; a reply needs SMTPUTF8 (RFC 6531).
    raw = mail(
        "From: Jörg Döe <jdöe@mächine.example>\r\nSubject: Grüße\r\n"
        "Message-ID: <eai@mächine.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n".encode()
    )
    parsed = parse_mail(raw)
    assert parsed.sender is not None
    assert parsed.sender.email == "jdöe@mächine.example"
    assert parsed.sender.name == "Jörg Döe"
    assert parsed.subject == "Grüße"
    [note] = parsed.address_notes
    assert note.issue is AddressIssue.INTERNATIONALISED
    assert note.address == "jdöe@mächine.example"


def test_reply_to_problems_are_noted_with_their_header() -> None:
    raw = mail(
        b"From: Jan <jan@example.be>\r\nReply-To: <jan@example.be.>\r\n"
        b"Subject: Lamp\r\nMessage-ID: <r@x>\r\n"
    )
    parsed = parse_mail(raw)
    assert parsed.reply_to[0].email == "jan@example.be"
    assert [(n.header, n.issue) for n in parsed.address_notes] == [
        ("Reply-To", AddressIssue.TRAILING_DOT)
    ]


def test_a_plain_address_has_no_notes() -> None:
    raw = mail(b"From: Jan <jan@example.be>\r\nSubject: Lamp\r\nMessage-ID: <p@x>\r\n")
    assert parse_mail(raw).address_notes == ()


def test_quotes_around_a_plain_local_part_are_dropped() -> None:
    # RFC 5321 §4.1.2: a local part that needs no quotes should be sent without them.
    raw = mail(b'From: Jan <"jan.peeters"@example.be>\r\nSubject: Lamp\r\nMessage-ID: <u@x>\r\n')
    parsed = parse_mail(raw)
    assert parsed.sender is not None
    assert parsed.sender.email == "jan.peeters@example.be"
    assert parsed.address_notes == ()


@pytest.mark.parametrize(
    "address",
    ["taro..yamada@docomo.example", "taro.@docomo.example", "jan@example..be"],
)
def test_an_address_no_server_can_take_is_noted_as_invalid_with_the_reason(address: str) -> None:
    # RFC 5321 §4.1.2: a local part is a Dot-string (no empty atoms) or a Quoted-string;
    # a domain has no empty label. Such an address is kept for staff, and noted.
    raw = mail(b"From: Taro <" + address.encode() + b">\r\nSubject: Lamp\r\nMessage-ID: <i@x>\r\n")
    parsed = parse_mail(raw)
    assert parsed.sender is not None and parsed.sender.email == address
    [note] = parsed.address_notes
    assert note.issue is AddressIssue.INVALID
    assert "period" in note.reason


def test_a_local_part_with_an_unquoted_space_is_quoted_and_noted_not_dropped() -> None:
    # RFC 5322 §3.4.1: a space needs a quoted-string; some webmail forms write it bare.
    # The address is kept (quoted, as RFC 5321 §4.1.2 wants it) and reported.
    raw = mail(b"From: Jan <jan peeters@example.be>\r\nSubject: Lamp\r\nMessage-ID: <v@x>\r\n")
    parsed = parse_mail(raw)
    assert parsed.sender is not None
    assert parsed.sender.email == '"jan peeters"@example.be'
    assert parsed.sender.name == "Jan"
    [note] = parsed.address_notes
    assert note.issue is AddressIssue.QUOTED_LOCAL_PART
    assert note.as_written == "jan peeters@example.be"
