"""kit.mailbox: one mailbox in one canonical form, or a ValueError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from fluide.kit import mailbox

# Nothing SMTP or a mail header could read as a second recipient or a second header.
_NEVER_IN_A_MAILBOX = set(',;<>()[]\\" \t\r\n\x00')


class _Body(BaseModel):
    email: mailbox.EmailAddress


def _one_mailbox(address: str) -> None:
    local, at, domain = address.rpartition("@")
    assert at and local and domain
    assert "@" not in local
    assert not _NEVER_IN_A_MAILBOX & set(address)
    assert address.isascii()
    assert domain == domain.lower()


@given(st.emails())
def test_valid_addresses_keep_one_canonical_form(address: str) -> None:
    try:
        canonical = mailbox.normalise(address)
    except mailbox.NotOneMailbox:
        return  # e.g. a special-use domain: refused is fine, what is accepted is checked below
    _one_mailbox(canonical)
    assert mailbox.normalise(canonical) == canonical
    assert mailbox.normalise(f"  {address} ") == canonical


@given(st.text(max_size=80))
def test_anything_accepted_is_one_mailbox(text: str) -> None:
    try:
        canonical = mailbox.normalise(text)
    except mailbox.NotOneMailbox:
        return
    _one_mailbox(canonical)


@given(st.emails(), st.emails(), st.sampled_from([",", ";", " ", "\r\n", "\x00", ", "]))
def test_two_addresses_are_never_one(first: str, second: str, glue: str) -> None:
    with pytest.raises(mailbox.NotOneMailbox):
        mailbox.normalise(first + glue + second)


@pytest.mark.parametrize(
    "address",
    [
        "Eve <victim@example.com>",
        "<victim@example.com>",
        '"a b"@example.com',
        "victim@[192.0.2.1]",
        "victim@localhost",
        "dév@example.com",
        "x" * 250 + "@example.com",
    ],
)
def test_refused(address: str) -> None:
    with pytest.raises(mailbox.NotOneMailbox):
        mailbox.normalise(address)
    with pytest.raises(ValidationError):
        _Body(email=address)


def test_the_schema_type_normalises_and_documents_itself() -> None:
    assert _Body(email=" Dev@Bücher.EXAMPLE ").email == "Dev@xn--bcher-kva.example"
    schema = _Body.model_json_schema()["properties"]["email"]
    assert schema["format"] == "email"
