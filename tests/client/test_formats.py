"""The client's offline key and secret check agrees with the server's formats (DESIGN §4), and
a mistyped value stops the client before any request, without showing the value."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fluide.client import AsyncFluideClient, ConfigurationError, FluideClient
from fluide.client import _formats as client_formats
from fluide.identity import formats as server_formats

KEYS = st.builds(lambda _: server_formats.new_api_key(), st.integers())
SECRETS = st.builds(lambda _: server_formats.new_api_secret(), st.integers())
BASE62 = st.sampled_from(server_formats.ALPHABET)


def both_accept(value: str) -> bool:
    if value.startswith(server_formats.KEY_PREFIX):
        return client_formats.is_api_key(value) and server_formats.is_api_key(value)
    return client_formats.is_api_secret(value) and server_formats.is_api_secret(value)


def client_accepts(value: str) -> bool:
    return client_formats.is_api_key(value) or client_formats.is_api_secret(value)


def test_the_alphabet_prefixes_and_checksum_are_the_servers() -> None:
    assert client_formats.ALPHABET == server_formats.ALPHABET
    assert client_formats.KEY_PREFIX == server_formats.KEY_PREFIX
    assert client_formats.SECRET_PREFIX == server_formats.SECRET_PREFIX
    assert client_formats.CHECKSUM_LEN == server_formats.CHECKSUM_LEN
    assert client_formats.MIN_KEY_BODY <= server_formats.KEY_BODY_LEN
    assert client_formats.MIN_SECRET_BODY <= server_formats.SECRET_BODY_LEN


@settings(max_examples=200)
@given(value=st.one_of(KEYS, SECRETS))
def test_everything_the_server_issues_passes(value: str) -> None:
    assert both_accept(value)


@settings(max_examples=300)
@given(value=st.one_of(KEYS, SECRETS), data=st.data())
def test_one_mistyped_character_fails_in_both(value: str, data: st.DataObject) -> None:
    prefix = len(client_formats.KEY_PREFIX if value.startswith("fl_dev_") else "fl_sk_")
    at = data.draw(st.integers(prefix, len(value) - 1))
    char = data.draw(BASE62.filter(lambda c: c != value[at]))
    typo = value[:at] + char + value[at + 1 :]
    assert not client_accepts(typo)
    assert not (server_formats.is_api_key(typo) or server_formats.is_api_secret(typo))


@settings(max_examples=200)
@given(value=st.one_of(KEYS, SECRETS), data=st.data())
def test_swapped_neighbours_dropped_or_added_characters_fail(
    value: str, data: st.DataObject
) -> None:
    start = 7 if value.startswith("fl_dev_") else 6
    at = data.draw(st.integers(start, len(value) - 2))
    if value[at] != value[at + 1]:
        swapped = value[:at] + value[at + 1] + value[at] + value[at + 2 :]
        assert not client_accepts(swapped)
    assert not client_accepts(value[:at] + value[at + 1 :])
    assert not client_accepts(value[:at] + data.draw(BASE62) + value[at:])
    assert not client_accepts(value + "\n") and not client_accepts(" " + value)


def test_longer_bodies_pass_the_client_only() -> None:
    """DESIGN §4 promises at least 32 key characters: a future longer key must not be refused
    by an installed SDK (the server, which issues them, checks the exact length)."""
    body = "a" * 40
    longer = f"fl_dev_{body}{client_formats.checksum('fl_dev_', body)}"
    assert client_formats.is_api_key(longer) and not server_formats.is_api_key(longer)
    short = "a" * 31
    assert not client_formats.is_api_key(
        f"fl_dev_{short}{client_formats.checksum('fl_dev_', short)}"
    )
    key, secret = server_formats.new_api_key(), server_formats.new_api_secret()
    assert not client_formats.is_api_key(secret) and not client_formats.is_api_secret(key)


def counting_transport(seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize("which", ["key", "secret"])
async def test_a_mistyped_value_is_a_configuration_error_before_any_request(
    which: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, secret = server_formats.new_api_key(), server_formats.new_api_secret()
    good = key if which == "key" else secret
    typo = good[:-1] + ("A" if good[-1] != "A" else "B")
    args = (typo, secret) if which == "key" else (key, typo)
    env = "FLUIDE_API_KEY" if which == "key" else "FLUIDE_API_SECRET"
    seen: list[httpx.Request] = []
    with pytest.raises(ConfigurationError) as sync_error:
        FluideClient("http://fluide.test", *args, transport=counting_transport(seen))
    with pytest.raises(ConfigurationError) as async_error:
        AsyncFluideClient("http://fluide.test", *args)
    monkeypatch.setenv("FLUIDE_BASE_URL", "http://fluide.test")
    monkeypatch.setenv("FLUIDE_API_KEY", args[0])
    monkeypatch.setenv("FLUIDE_API_SECRET", args[1])
    with pytest.raises(ConfigurationError) as env_error:
        FluideClient(transport=counting_transport(seen))
    assert seen == []
    for caught in (sync_error, async_error, env_error):
        error = caught.value
        assert error.code == "CLIENT_CONFIGURATION" and env in str(error)
        for text in (str(error), repr(error)):
            assert typo not in text and good not in text and secret not in text
