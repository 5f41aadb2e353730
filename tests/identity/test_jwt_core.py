"""JWT minting and checking without a server: ``now`` is passed in."""

from __future__ import annotations

import base64
import time
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from fluide.identity import jwt_core

ISS = "https://issuer.test"
AUD = "https://api.test"


def _key(alg: str = "ES256") -> tuple[jwt_core.SigningKey, dict[str, jwt_core.VerifyKey]]:
    private = jwt_core.generate_private_key(alg)
    kid = jwt_core.new_kid(private.public_key())
    return (
        jwt_core.SigningKey(kid, alg, private),
        {kid: jwt_core.VerifyKey(kid, alg, private.public_key())},
    )


def _claims(now: int, **over: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "sub": "cred_1",
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "jti": "j1",
        "tenant_id": "ten_1",
        "fluide_client_id": "fluide-developer",
        "api_key": "fl_dev_x",
        "scope": "hr:read",
        "gen": 1,
    }
    claims.update(over)
    return claims


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
def test_round_trip(alg: str) -> None:
    key, keys = _key(alg)
    now = int(time.time())
    token = jwt_core.mint(_claims(now), key)
    claims = jwt_core.verify(token, keys, issuer=ISS, audience=AUD, now=now, leeway=5)
    assert claims["sub"] == "cred_1"
    assert pyjwt.get_unverified_header(token) == {"alg": alg, "kid": key.kid, "typ": "at+jwt"}


def test_expiry_with_leeway() -> None:
    key, keys = _key()
    token = jwt_core.mint(_claims(1000), key)
    jwt_core.verify(token, keys, issuer=ISS, audience=AUD, now=1000 + 900 + 4, leeway=5)
    with pytest.raises(jwt_core.TokenExpired):
        jwt_core.verify(token, keys, issuer=ISS, audience=AUD, now=1000 + 900 + 5, leeway=5)


def test_not_before_in_the_future_is_invalid() -> None:
    key, keys = _key()
    token = jwt_core.mint(_claims(1000, nbf=2000), key)
    with pytest.raises(jwt_core.TokenInvalid):
        jwt_core.verify(token, keys, issuer=ISS, audience=AUD, now=1000, leeway=5)


def test_wrong_issuer_unknown_kid_and_missing_claims() -> None:
    key, keys = _key()
    now = int(time.time())
    with pytest.raises(jwt_core.TokenInvalid):
        jwt_core.verify(
            jwt_core.mint(_claims(now, iss="evil"), key),
            keys,
            issuer=ISS,
            audience=AUD,
            now=now,
            leeway=5,
        )
    other, _ = _key()
    with pytest.raises(jwt_core.TokenInvalid):
        jwt_core.verify(
            jwt_core.mint(_claims(now), other), keys, issuer=ISS, audience=AUD, now=now, leeway=5
        )
    claims = _claims(now)
    del claims["gen"]
    with pytest.raises(jwt_core.TokenInvalid):
        jwt_core.verify(
            jwt_core.mint(claims, key), keys, issuer=ISS, audience=AUD, now=now, leeway=5
        )


@pytest.mark.parametrize(
    ("aud", "accepted"),
    [
        (AUD, True),
        ([AUD], True),
        (["https://other.test", AUD], True),
        ("https://other.test", False),
        (AUD + "/", False),
        ([], False),
        (["https://other.test"], False),
        ([AUD, 7], False),
        (None, False),
        ({"aud": AUD}, False),
    ],
)
def test_the_audience_must_be_ours(aud: Any, accepted: bool) -> None:
    key, keys = _key()
    now = int(time.time())
    claims = _claims(now, aud=aud)
    if aud is None:
        del claims["aud"]
    token = jwt_core.mint(claims, key)
    if accepted:
        assert jwt_core.verify(token, keys, issuer=ISS, audience=AUD, now=now, leeway=5)
    else:
        with pytest.raises(jwt_core.TokenInvalid):
            jwt_core.verify(token, keys, issuer=ISS, audience=AUD, now=now, leeway=5)


def test_alg_none_and_hmac_with_the_public_key_are_refused() -> None:
    key, keys = _key()
    now = int(time.time())
    header = {"kid": key.kid, "typ": "at+jwt"}
    unsigned = pyjwt.encode(_claims(now), None, algorithm="none", headers=header)
    with pytest.raises(jwt_core.TokenInvalid):
        jwt_core.verify(unsigned, keys, issuer=ISS, audience=AUD, now=now, leeway=5)
    pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forged = _hs256(_claims(now), pem, header)
    with pytest.raises(jwt_core.TokenInvalid):
        jwt_core.verify(forged, keys, issuer=ISS, audience=AUD, now=now, leeway=5)


def _hs256(claims: dict[str, Any], secret: bytes, header: dict[str, str]) -> str:
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", **header}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def test_tampered_payload_fails_the_signature() -> None:
    key, keys = _key()
    now = int(time.time())
    head, _, sig = jwt_core.mint(_claims(now), key).split(".")
    _, body, _ = jwt_core.mint(_claims(now, scope="hr:read hr:write"), _key()[0]).split(".")
    with pytest.raises(jwt_core.TokenInvalid):
        jwt_core.verify(f"{head}.{body}.{sig}", keys, issuer=ISS, audience=AUD, now=now, leeway=5)


@pytest.mark.parametrize("junk", ["", "a.b", "a.b.c", "....", "eyJ.eyJ.x", "x" * 9000])
def test_garbage_is_invalid(junk: str) -> None:
    _, keys = _key()
    with pytest.raises(jwt_core.TokenInvalid):
        jwt_core.verify(junk, keys, issuer=ISS, audience=AUD, now=0, leeway=5)


def test_private_keys_round_trip_through_the_encryptor() -> None:
    enc = jwt_core.KeyEncryptor(b"k" * 32)
    key, _ = _key()
    blob = enc.encrypt(key.kid, jwt_core.private_pem(key.private_key))
    assert b"PRIVATE KEY" not in blob
    assert jwt_core.load_private_pem(enc.decrypt(key.kid, blob))
    with pytest.raises(InvalidTag):
        enc.decrypt("another-kid", blob)  # the kid is bound as associated data
    with pytest.raises(InvalidTag):
        jwt_core.KeyEncryptor(b"z" * 32).decrypt(key.kid, blob)


# ---- one signature per token: low-s ES256, canonical base64url (DESIGN §4) -----------------


def _split_signature(token: str) -> tuple[str, bytes]:
    head, _, sig = token.rpartition(".")
    return head, base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))


def _with_s(token: str, s: int) -> str:
    head, sig = _split_signature(token)
    forged = sig[:32] + s.to_bytes(32, "big")
    return head + "." + base64.urlsafe_b64encode(forged).rstrip(b"=").decode()


def test_minted_es256_signatures_are_low_s() -> None:
    # Half of OpenSSL's raw signatures have a high s: 64 in a row low is the normalisation.
    key, keys = _key()
    now = int(time.time())
    for i in range(64):
        token = jwt_core.mint(_claims(now, jti=f"j{i}"), key)
        s = int.from_bytes(_split_signature(token)[1][32:], "big")
        assert 0 < s <= jwt_core.P256_HALF_ORDER
        jwt_core.verify(token, keys, issuer=ISS, audience=AUD, now=now, leeway=5)


def test_a_high_s_twin_is_refused_though_it_is_a_valid_ecdsa_signature() -> None:
    key, keys = _key()
    now = int(time.time())
    token = jwt_core.mint(_claims(now), key)
    head, sig = _split_signature(token)
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    twin = _with_s(token, jwt_core.P256_ORDER - s)
    # The twin is a mathematically valid signature of the same claims...
    public = keys[key.kid].public_key
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(
        encode_dss_signature(r, jwt_core.P256_ORDER - s), head.encode(), ec.ECDSA(hashes.SHA256())
    )
    assert pyjwt.decode(twin, public, algorithms=["ES256"], options={"verify_aud": False})
    # ...and still refused, while the low-s original passes.
    with pytest.raises(jwt_core.TokenInvalid):
        jwt_core.verify(twin, keys, issuer=ISS, audience=AUD, now=now, leeway=5)
    jwt_core.verify(token, keys, issuer=ISS, audience=AUD, now=now, leeway=5)


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
def test_a_non_canonical_signature_encoding_is_refused(alg: str) -> None:
    key, keys = _key(alg)
    now = int(time.time())
    token = jwt_core.mint(_claims(now), key)
    head, sig = _split_signature(token)
    encoded = token.rpartition(".")[2]
    # The last character carries spare bits decoders ignore: the same bytes, another string.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twins = [
        head + "." + encoded[:-1] + c
        for c in alphabet
        if c != encoded[-1] and _split_signature(head + "." + encoded[:-1] + c)[1] == sig
    ]
    assert twins, "no spare bits in this signature's encoding"
    for twin in [
        *twins,
        head + "." + encoded + "=",
        head + "." + encoded[:10] + "!" + encoded[10:],
    ]:
        with pytest.raises(jwt_core.TokenInvalid):
            jwt_core.verify(twin, keys, issuer=ISS, audience=AUD, now=now, leeway=5)


@pytest.mark.parametrize("length", [0, 32, 63, 65, 96])
def test_an_es256_signature_of_the_wrong_length_is_refused(length: int) -> None:
    key, keys = _key()
    now = int(time.time())
    head = jwt_core.mint(_claims(now), key).rpartition(".")[0]
    forged = head + "." + base64.urlsafe_b64encode(b"\x01" * length).rstrip(b"=").decode()
    with pytest.raises(jwt_core.TokenInvalid):
        jwt_core.verify(forged, keys, issuer=ISS, audience=AUD, now=now, leeway=5)
