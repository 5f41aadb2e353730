"""One email address, one mailbox: checked by ``email-validator``, never by a regex of ours.

An address the service mails must name exactly one mailbox: no list (``a@x.com,b@y.com``), no
display name or angle brackets (``Eve <a@x.com>``), no quoted local part, no domain literal, no
control character (NUL), nothing an SMTP server could read as a second recipient. The check is
syntax only: no DNS lookup (the service may run without a network). Addresses are kept in one
canonical form: the domain lower-cased and, for an internationalised domain, in its ASCII
(``xn--``) form, so plain SMTP can deliver it and one mailbox has one spelling; the local part is
kept as typed and must be ASCII (SMTPUTF8 is not assumed of the mail server).

Pydantic's ``EmailStr`` uses the same library but accepts ``Name <address>`` and drops the name,
so this module calls the library itself.
"""

from __future__ import annotations

from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field

# RFC 3696 errata / RFC 5321: no usable address is longer (the library enforces it too). Longer
# input is refused before the library parses it.
MAX_LENGTH = 254


class NotOneMailbox(ValueError):
    """Not an address of exactly one mailbox; the message says what is wrong (for people)."""


def normalise(address: str) -> str:
    """The canonical form of one mailbox, or ``NotOneMailbox`` saying what is wrong with it."""
    address = address.strip()  # surrounding blanks are a typing slip, never part of an address
    if len(address) > MAX_LENGTH:
        raise NotOneMailbox(f"an email address has at most {MAX_LENGTH} characters")
    try:
        checked = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise NotOneMailbox(str(exc)) from None
    ascii_email = checked.ascii_email
    if ascii_email is None:  # never with allow_smtputf8=False; fail closed all the same
        raise NotOneMailbox("the address needs an SMTPUTF8 mail server")
    return ascii_email


# A request field holding one mailbox, already in canonical form. ``max_length`` leaves room for
# surrounding blanks; ``format: email`` documents it in the OpenAPI schema.
EmailAddress = Annotated[
    str,
    Field(max_length=320, json_schema_extra={"format": "email"}, examples=["dev@example.com"]),
    AfterValidator(normalise),
]
