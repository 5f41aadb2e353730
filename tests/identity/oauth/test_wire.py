"""RFC 6749's wire format, pure: forms, client authentication, error mapping."""

from __future__ import annotations

import base64
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fluide.identity.errors import (
    ClientIdInvalid,
    CredentialExpired,
    CredentialRevoked,
    DeveloperKeysInvalid,
    EmailNotVerified,
    IpNotAllowed,
)
from fluide.identity.oauth import wire
from fluide.kit.errors import AppError, RateLimited, ServiceUnavailable, ValidationFailed

FORM = "application/x-www-form-urlencoded"


def _basic(client_id: str, secret: str) -> str:
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def test_a_form_parses_and_blank_values_count_as_omitted() -> None:
    body = b"grant_type=client_credentials&scope=&client_id=a%2Bb+c"
    assert wire.parse_form(body, FORM + "; charset=utf-8") == {
        "grant_type": "client_credentials",
        "client_id": "a+b c",
    }


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"grant_type=x", "application/json"),
        (b"grant_type=x", None),
        (b"a=1&a=2", FORM),
        (b"a=%FF", FORM),
        ("a=é".encode(), FORM),
        (b"&".join(b"f%d=1" % i for i in range(40)), FORM),
    ],
)
def test_bad_forms_are_invalid_request(body: bytes, content_type: str | None) -> None:
    with pytest.raises(wire.OAuthError) as caught:
        wire.parse_form(body, content_type)
    assert (caught.value.status, caught.value.error) == (400, "invalid_request")


_visible = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=80)


@given(client_id=_visible, secret=_visible)
def test_basic_round_trips_any_visible_id_and_secret(client_id: str, secret: str) -> None:
    creds = wire.client_credentials(_basic(client_id, secret), {})
    assert (creds.client_id, creds.client_secret) == (client_id, secret)
    assert creds.method == "client_secret_basic"
    assert repr(creds) == "ClientCredentials(method='client_secret_basic')"  # never the secret


@given(client_id=_visible, secret=_visible)
def test_post_round_trips_through_a_real_form(client_id: str, secret: str) -> None:
    body = urlencode({"client_id": client_id, "client_secret": secret}).encode()
    creds = wire.client_credentials(None, wire.parse_form(body, FORM))
    assert (creds.client_id, creds.client_secret, creds.method) == (
        client_id,
        secret,
        "client_secret_post",
    )


@pytest.mark.parametrize(
    ("authorization", "form", "expected"),
    [
        (None, {}, (401, "invalid_client")),
        (None, {"client_id": "k"}, (401, "invalid_client")),
        (None, {"client_secret": "s"}, (401, "invalid_client")),
        ("Basic", {}, (401, "invalid_client")),
        ("Bearer x.y.z", {}, (401, "invalid_client")),
        ("Basic ####", {}, (401, "invalid_client")),
        ("Basic " + base64.b64encode(b"nocolon").decode(), {}, (401, "invalid_client")),
        (_basic("k", "s"), {"client_secret": "s"}, (400, "invalid_request")),
        (_basic("k", "s"), {"client_id": "other"}, (400, "invalid_request")),
        (None, {"client_id": "k" * 257, "client_secret": "s"}, (400, "invalid_request")),
        (_basic("k", "s" * 257), {}, (400, "invalid_request")),
    ],
)
def test_client_authentication_refusals(
    authorization: str | None, form: dict[str, str], expected: tuple[int, str]
) -> None:
    with pytest.raises(wire.OAuthError) as caught:
        wire.client_credentials(authorization, form)
    assert (caught.value.status, caught.value.error) == expected
    headers = caught.value.headers
    assert headers["Cache-Control"] == "no-store"
    assert ("WWW-Authenticate" in headers) == (expected[0] == 401)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (DeveloperKeysInvalid(), (401, "invalid_client")),
        (CredentialRevoked(), (401, "invalid_client")),
        (ClientIdInvalid(), (401, "invalid_client")),
        (EmailNotVerified(), (400, "unauthorized_client")),
        (CredentialExpired(), (401, "invalid_client")),
        (IpNotAllowed(), (400, "unauthorized_client")),
        (RateLimited(7), (429, "temporarily_unavailable")),
        (ServiceUnavailable(), (503, "temporarily_unavailable")),
        (ValidationFailed(errors={"scope": ["not granted: x"]}), (400, "invalid_scope")),
        (ValidationFailed(errors={"X-Fluide-Api-Key": ["is required"]}), (400, "invalid_request")),
    ],
)
def test_exchange_errors_map_to_rfc_6749(exc: AppError, expected: tuple[int, str]) -> None:
    err = wire.from_app_error(exc)
    assert (err.status, err.error) == expected
    if isinstance(exc, RateLimited):
        assert err.headers["Retry-After"] == "7"
    # The description is ours, never the exception's (which may echo input).
    assert "not granted" not in err.description
