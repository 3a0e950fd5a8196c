"""Raw mails for tests: one ordinary builder and a corpus of the messy mail the desk gets.

``complaint()`` builds a well-formed UTF-8 mail for any test that needs "a citizen's mail".
The other functions return hand-written bytes, because the interesting cases (raw 8-bit
headers, lying charset labels, broken multiparts) cannot be produced by a correct library.
Every function returns the message as IMAP delivers it: bytes, CRLF line ends unless the
case is about something else. Import the package: ``from support import mailfactory as mf``.

    build.py    complaint(), the shared PDF and JPEG bytes
    headers.py  messy headers and charsets
    mime.py     messy MIME trees, forwards, bounces, auto-replies
"""

from __future__ import annotations

from support.mailfactory.build import JPEG_BYTES, MAILBOX, PDF_BYTES, complaint
from support.mailfactory.headers import (
    bare_address_from,
    broken_from_missing_bracket,
    cp1252_smart_quotes_header,
    date_without_zone,
    latin1_raw_headers,
    missing_date,
    missing_from,
    missing_message_id,
    nul_bytes_lf_only,
    plain_utf8_dutch,
    repeated_headers,
    rfc2047_q_and_b,
    truncated_encoded_word,
    unknown_charset,
    utf8_raw_headers,
    windows1252_body_labelled_latin1,
)
from support.mailfactory.mime import (
    attachments_pdf_jpeg,
    auto_reply,
    base64_encoded_rfc822,
    bounce_dsn,
    bounce_headers_only,
    bounce_text_only,
    broken_multipart_no_close,
    forward_only,
    forwarded_rfc822,
    html_only_outlook,
    multipart_alternative,
    multipart_without_boundary,
    reply_with_references,
    text_attachments,
)

__all__ = [
    "JPEG_BYTES",
    "MAILBOX",
    "PDF_BYTES",
    "attachments_pdf_jpeg",
    "auto_reply",
    "bare_address_from",
    "base64_encoded_rfc822",
    "bounce_dsn",
    "bounce_headers_only",
    "bounce_text_only",
    "broken_from_missing_bracket",
    "broken_multipart_no_close",
    "complaint",
    "corpus",
    "cp1252_smart_quotes_header",
    "date_without_zone",
    "forward_only",
    "forwarded_rfc822",
    "html_only_outlook",
    "latin1_raw_headers",
    "missing_date",
    "missing_from",
    "missing_message_id",
    "multipart_alternative",
    "multipart_without_boundary",
    "not_a_mail_cases",
    "nul_bytes_lf_only",
    "plain_utf8_dutch",
    "repeated_headers",
    "reply_with_references",
    "rfc2047_q_and_b",
    "text_attachments",
    "truncated_encoded_word",
    "unknown_charset",
    "utf8_raw_headers",
    "windows1252_body_labelled_latin1",
]


def not_a_mail_cases() -> dict[str, bytes]:
    return {
        "empty": b"",
        "whitespace": b" \r\n\r\n\t",
        "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10",
        "zip": b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)),
        "single line": b"just one line without a colon",
        "prose": b"Beste, dit is geen mail\nmaar gewoon tekst.\n",
        "body only": b"\n\nOnly a body after a blank line\n",
    }


def corpus() -> dict[str, bytes]:
    """Every messy mail above, by name (for fuzzing and smoke tests)."""
    return {
        "plain_utf8_dutch": plain_utf8_dutch(),
        "latin1_raw_headers": latin1_raw_headers(),
        "cp1252_smart_quotes_header": cp1252_smart_quotes_header(),
        "utf8_raw_headers": utf8_raw_headers(),
        "rfc2047_q_and_b": rfc2047_q_and_b(),
        "unknown_charset": unknown_charset(),
        "windows1252_body_labelled_latin1": windows1252_body_labelled_latin1(),
        "html_only_outlook": html_only_outlook(),
        "multipart_alternative": multipart_alternative(),
        "attachments_pdf_jpeg": attachments_pdf_jpeg(),
        "text_attachments": text_attachments(),
        "missing_from": missing_from(),
        "missing_date": missing_date(),
        "date_without_zone": date_without_zone(),
        "missing_message_id": missing_message_id(),
        "repeated_headers": repeated_headers(),
        "broken_multipart_no_close": broken_multipart_no_close(),
        "multipart_without_boundary": multipart_without_boundary(),
        "forwarded_rfc822": forwarded_rfc822(),
        "forward_only": forward_only(),
        "base64_encoded_rfc822": base64_encoded_rfc822(),
        "reply_with_references": reply_with_references(),
        "bounce_dsn": bounce_dsn(),
        "bounce_headers_only": bounce_headers_only(),
        "bounce_text_only": bounce_text_only(),
        "auto_reply": auto_reply(),
        "broken_from_missing_bracket": broken_from_missing_bracket(),
        "bare_address_from": bare_address_from(),
        "truncated_encoded_word": truncated_encoded_word(),
        "nul_bytes_lf_only": nul_bytes_lf_only(),
    }
