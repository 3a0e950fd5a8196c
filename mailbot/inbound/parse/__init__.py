"""Turn one raw mailbox message into an :class:`~mailbot.domain.model.InboundMail`.

The mailbox receives real citizen mail: raw 8-bit headers in cp1252, charset labels that
lie, HTML-only mails from Outlook, multiparts that never close. The rules here:

* mail-parser (``mailparser.parse_from_bytes``) parses every message exactly once. Its
  MIME tree (a compat32 ``email.message.Message``), its address lists and its date are
  used; the body, the attachments and every decoded header are read from that same tree
  with the charset fallbacks in :mod:`.charset`, because mail-parser decodes unknown
  charsets as UTF-8 and drops what does not fit.
* Only when mail-parser raises or returns no headers does the standard library parse the
  message again. When that fails too, :class:`ParseError` says why.
* Every repair is written to ``InboundMail.defects`` in plain English, so a person can see
  why a mail looks the way it does.

One idea per module, in the order a mail passes through them:

========================  ===============================================================
``repair``                is it a mail; repair the header block before parsing
``tree``                  parse the MIME tree once; walk it into parts
``charset``               bytes to text: charset labels, RFC 2047 encoded-words
``addresses``             From, To, Cc, Reply-To as :class:`Address` tuples
``headers``               Message-IDs and the Date
``bodies``                the text staff read (plain, else HTML as text)
``attachments``           filenames, part bytes, forwarded and bounced messages as .eml
``mail``                  :func:`parse_mail`, the route through the above
========================  ===============================================================
"""

from mailbot.inbound.parse.errors import ParseError
from mailbot.inbound.parse.mail import original_message_ids, parse_mail

__all__ = ["ParseError", "original_message_ids", "parse_mail"]
