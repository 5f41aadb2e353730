"""``identity.dpop``: RFC 9449 §4.3's checks of one proof, each failure alone, and a property:
a proof passes exactly when every check passes. Proofs are made as a client makes them (PyJWT
+ cryptography, ``DpopKey``); thumbprints are joserfc's."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from fluide.identity import dpop
from fluide.identity.dpop import ProofInvalid, check_proof
from tests.identity.oauth.support import DpopKey

URL = "https://api.example.com/api/v1/hr/health"
TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
KEYS = {alg: DpopKey(alg) for alg in dpop.SIGNING_ALGS}
KEY = KEYS["ES256"]
OTHER = DpopKey("ES256")


def _check(proof: str | None, now: float, **kw: Any) -> dpop.Proof:
    args: dict[str, Any] = {"method": "GET", "url": URL, "now": now, "access_token": TOKEN}
    args["jkt"] = KEY.thumbprint
    args.update(kw)
    return check_proof(proof, **args)


def _reason(proof: str | None, now: float, **kw: Any) -> str:
    with pytest.raises(ProofInvalid) as caught:
        _check(proof, now, **kw)
    return caught.value.reason


@pytest.mark.parametrize("alg", dpop.SIGNING_ALGS)
def test_a_good_proof_of_every_algorithm_passes(alg: str) -> None:
    key, now = KEYS[alg], time.time()
    proof = key.proof("GET", URL, now, token=TOKEN)
    found = _check(proof, now, jkt=key.thumbprint)
    assert found.jkt == key.thumbprint  # joserfc's RFC 7638 thumbprint
    # The token endpoint's form: no token yet, any key.
    assert check_proof(key.proof("POST", URL, now), method="POST", url=URL, now=now).jkt == (
        key.thumbprint
    )


@pytest.mark.parametrize(
    "htu",
    [
        URL + "?q=1#frag",
        "HTTPS://API.EXAMPLE.COM/api/v1/hr/health",
        "https://api.example.com:443/api/v1/hr/health",
        "https://api.example.com/api/v1/hr/%68ealth",
    ],
)
def test_htu_ignores_query_fragment_case_of_host_default_port_and_escapes(htu: str) -> None:
    now = time.time()
    _check(KEY.proof("GET", htu, now, token=TOKEN), now)


@pytest.mark.parametrize(
    "htu",
    [
        "http://api.example.com/api/v1/hr/health",  # another scheme
        "https://api.example.com:8443/api/v1/hr/health",  # another port
        "https://evil.example.com/api/v1/hr/health",
        "https://api.example.com/api/v1/hr/Health",  # paths are case-sensitive
        "https://api.example.com/api/v1/hr/health/",
        "https://user@api.example.com/api/v1/hr/health",
        "/api/v1/hr/health",  # not absolute
        "https://[::1/api",  # not a URL
        "",
    ],
)
def test_another_url_is_refused(htu: str) -> None:
    now = time.time()
    assert _reason(KEY.proof("GET", htu, now, token=TOKEN), now) == "htu does not match"


def test_each_claim_check_alone() -> None:
    now = time.time()
    assert _reason(KEY.proof("POST", URL, now, token=TOKEN), now) == "htm does not match"
    assert _reason(KEY.proof("get", URL, now, token=TOKEN), now) == "htm does not match"
    old = KEY.proof("GET", URL, now - dpop.IAT_WINDOW - 1, token=TOKEN)
    assert _reason(old, now) == "iat outside the window"
    future = KEY.proof("GET", URL, now + dpop.IAT_WINDOW + 1, token=TOKEN)
    assert _reason(future, now) == "iat outside the window"
    for edge in (now - dpop.IAT_WINDOW + 1, now + dpop.IAT_WINDOW - 1):
        _check(KEY.proof("GET", URL, edge, token=TOKEN), now)
    assert _reason(KEY.proof("GET", URL, now, token="other.token.x"), now) == "ath does not match"
    assert _reason(KEY.proof("GET", URL, now), now) == "ath does not match"
    # A proof for another token's request, by the same key.
    assert _reason(OTHER.proof("GET", URL, now, token=TOKEN), now) == "key is not the token's"
    for bad in ({"iat": "1"}, {"iat": True}, {"iat": None}):
        assert _reason(KEY.proof("GET", URL, now, token=TOKEN, claims=bad), now) == "iat missing"
    for jti in ({"jti": ""}, {"jti": 5}, {"jti": "x" * 257}):
        proof = KEY.proof("GET", URL, now, token=TOKEN, claims=jti)
        assert _reason(proof, now) == "jti missing or too long"


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    def enc(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return ".".join((enc(orjson.dumps(header)), enc(orjson.dumps(claims)), enc(signature)))


def test_header_and_key_attacks() -> None:
    now = time.time()
    claims = {
        "jti": "j",
        "htm": "GET",
        "htu": URL,
        "iat": int(now),
        "ath": dpop.access_token_hash(TOKEN),
    }
    head = {"typ": "dpop+jwt", "jwk": KEY.jwk}
    for alg in ("none", "None", "NONE"):
        assert _reason(_unsigned({**head, "alg": alg}, claims), now) == "alg not allowed"
    # HS256 keyed with the public key, in two spellings (signed by hand: PyJWT refuses to).
    for secret in (orjson.dumps(KEY.jwk), KEY.jwk["x"].encode()):
        unsigned = _unsigned({**head, "alg": "HS256"}, claims).rsplit(".", 1)[0]
        mac = hmac.new(secret, unsigned.encode(), hashlib.sha256).digest()
        forged = unsigned + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
        assert _reason(forged, now) == "alg not allowed"
    assert _reason(KEY.proof("GET", URL, now, token=TOKEN, header={"typ": "JWT"}), now) == (
        "typ is not dpop+jwt"
    )
    private = ECAlgorithm.to_jwk(KEY.private, as_dict=True)
    assert "d" in private
    proof = KEY.proof("GET", URL, now, token=TOKEN, header={"jwk": private})
    assert _reason(proof, now) == "jwk is not a public key"
    # Another key's jwk with this key's signature; a jwk of the wrong type for the alg.
    proof = KEY.proof("GET", URL, now, token=TOKEN, header={"jwk": OTHER.jwk})
    assert _reason(proof, now, jkt=OTHER.thumbprint) == "bad signature"
    proof = KEY.proof("GET", URL, now, token=TOKEN, header={"jwk": KEYS["RS256"].jwk})
    assert _reason(proof, now) == "jwk does not match alg"
    weak = KEYS["RS256"]
    small_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    small = RSAAlgorithm.to_jwk(small_key.public_key(), as_dict=True)
    proof = weak.proof("GET", URL, now, token=TOKEN, header={"jwk": small})
    assert _reason(proof, now, jkt=weak.thumbprint) == "jwk does not match alg"
    for jwk in (None, "x", {"kty": "EC"}, {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}):
        proof = KEY.proof("GET", URL, now, token=TOKEN, header={"jwk": jwk})
        assert _reason(proof, now) in {
            "jwk is not a public key",
            "jwk does not match alg",
            "jwk is not a usable key",
        }
    tampered = KEY.proof("GET", URL, now, token=TOKEN)
    head_b64, _, sig = tampered.split(".")
    swapped = KEY.proof("POST", URL, now, token=TOKEN).split(".")[1]
    assert _reason(f"{head_b64}.{swapped}.{sig}", now) == "bad signature"
    crit = KEY.proof("GET", URL, now, token=TOKEN, header={"crit": ["x"], "x": 1})
    assert _reason(crit, now) == "crit not supported"


@pytest.mark.parametrize("value", [None, "", "a.b", "a.b.c", "..", "x" * 9000, "é.é.é"])
def test_missing_or_malformed_proofs(value: str | None) -> None:
    with pytest.raises(ProofInvalid):
        _check(value, time.time())


def test_two_dpop_headers_are_refused() -> None:
    raw = [(b"dpop", b"a"), (b"authorization", b"x"), (b"dpop", b"b")]
    with pytest.raises(ProofInvalid):
        dpop.proof_header(raw)
    assert dpop.proof_header([(b"dpop", b"a")]) == "a"
    assert dpop.proof_header([]) is None


# ---- property: accepted exactly when every check passes -----------------------------------

FAULTS = ("htm", "htu", "iat_old", "iat_future", "ath", "key", "typ", "jti", "signature")


def _proof_with(faults: frozenset[str], now: float, skew: int) -> str:
    iat = now + skew
    if "iat_old" in faults:
        iat = now - dpop.IAT_WINDOW - 1 - abs(skew)
    if "iat_future" in faults:
        iat = now + dpop.IAT_WINDOW + 1 + abs(skew)
    signer = OTHER if "key" in faults else KEY
    proof = signer.proof(
        "PUT" if "htm" in faults else "GET",
        URL + "x" if "htu" in faults else URL,
        iat,
        token="another.access.token" if "ath" in faults else TOKEN,
        claims={"jti": ""} if "jti" in faults else None,
        header={"typ": "jwt"} if "typ" in faults else None,
    )
    if "signature" in faults:
        head, body, sig = proof.split(".")
        proof = (
            f"{head}.{body}.{sig[:-4]}AAAA" if not sig.endswith("AAAA") else f"{head}.{body}.BBBB"
        )
    return proof


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    faults=st.frozensets(st.sampled_from(FAULTS), max_size=3),
    skew=st.integers(-dpop.IAT_WINDOW, dpop.IAT_WINDOW),
)
def test_a_proof_passes_exactly_when_every_check_passes(faults: frozenset[str], skew: int) -> None:
    now = float(int(time.time()))
    proof = _proof_with(faults, now, skew)
    if faults:
        with pytest.raises(ProofInvalid):
            _check(proof, now)
    else:
        assert _check(proof, now).jkt == KEY.thumbprint


def test_refusals_never_repeat_the_proof() -> None:
    now = time.time()
    proof = KEY.proof("GET", URL + "secret-path", now, token=TOKEN, jti="secret-jti")
    with pytest.raises(ProofInvalid) as caught:
        _check(proof, now)
    assert "secret" not in str(caught.value) and "secret" not in repr(caught.value)
