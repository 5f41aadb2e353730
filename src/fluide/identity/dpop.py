"""DPoP proofs (RFC 9449): sender-constrained access tokens. Pure: no framework, no I/O.

A client that sends a ``DPoP`` proof to ``/oauth/token`` gets a token bound to the proof's key
(``cnf.jkt``, the key's RFC 7638 SHA-256 thumbprint); such a token is then accepted only as
``Authorization: DPoP <token>`` with a fresh proof by the same key on every call (the guard,
``gateway.middleware``). ``check_proof`` is RFC 9449 §4.3's check of one proof, for one request:

- one ``DPoP`` header, a compact JWS of at most ``MAX_PROOF`` characters;
- header ``typ: dpop+jwt``, ``alg`` one of ``SIGNING_ALGS`` (never ``none``, never HMAC), a
  public ``jwk`` matching the ``alg`` (no private member), and the signature verifies with it;
- claims ``jti`` (a string), ``htm`` = the request's method, ``htu`` = the request's URL
  (``same_url``: scheme and host case-insensitive, default ports dropped, percent-escapes
  decoded, query and fragment ignored), ``iat`` within ``IAT_WINDOW`` seconds of now, either
  way;
- for a call with a bound token, ``ath`` = base64url(SHA-256(the token)) and the key's
  thumbprint = the token's ``cnf.jkt``.

A ``jti`` is used once: ``identity.dpop_replay`` remembers it (across processes) for
``REPLAY_TTL`` seconds, longer than any proof carrying it can pass the ``iat`` check.
A refusal says which check failed in ``ProofInvalid.reason`` (fixed texts, for tests and logs;
never a value from the proof).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

PROOF_TYPE = "dpop+jwt"
SIGNING_ALGS = ("ES256", "EdDSA", "RS256", "PS256")
# How far a proof's ``iat`` may be from our clock, in the past or the future (seconds).
IAT_WINDOW = 60
# How long a ``jti`` is remembered: a proof passes the ``iat`` check for at most
# 2 × IAT_WINDOW seconds of our clock (plus a margin for clocks that differ between processes).
REPLAY_TTL = 2 * IAT_WINDOW + 10
# Longer than any proof we accept (an RSA-8192 key's is about 3.5 KB) and shorter than the edge's
# limit on one header value (FLUIDE_MAX_HEADER_VALUE_BYTES, 8 KiB by default): a proof over the
# documented length is this check's invalid_dpop_proof, not the edge's 431.
MAX_PROOF = 4096
MAX_JTI = 256
MIN_RSA_BITS = 2048
HEADER = b"dpop"
# RFC 7638 §3.2: the required members of each key type, in lexicographic order.
_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}
# RFC 7517/7518/8037: members that only a private key has.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_KTY_OF_ALG = {"ES256": "EC", "EdDSA": "OKP", "RS256": "RSA", "PS256": "RSA"}
_jws = jwt.PyJWS()


class ProofInvalid(Exception):
    """A proof that fails RFC 9449 §4.3; ``reason`` is a fixed text naming the check."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Proof:
    """A proof that passed every check but the ``jti``'s uniqueness (``dpop_replay``)."""

    jkt: str
    jti: str


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: base64url(SHA-256(the required members, sorted, without whitespace))."""
    members = _THUMBPRINT_MEMBERS.get(jwk.get("kty"))  # type: ignore[arg-type]
    if members is None or not all(isinstance(jwk.get(m), str) for m in members):
        raise ProofInvalid("unsupported jwk")
    canonical = orjson.dumps({m: jwk[m] for m in members}, option=orjson.OPT_SORT_KEYS)
    return b64url(hashlib.sha256(canonical).digest())


def access_token_hash(token: str) -> str:
    """``ath`` (RFC 9449 §4.2): base64url(SHA-256(the ASCII access token))."""
    return b64url(hashlib.sha256(token.encode("ascii", "replace")).digest())


def proof_header(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The request's one ``DPoP`` header (``None`` if absent); two or more are refused."""
    found: str | None = None
    for name, value in headers:
        if name == HEADER:
            if found is not None:
                raise ProofInvalid("more than one DPoP header")
            found = value.decode("latin-1")
    return found


def normal_url(url: str) -> tuple[str, str, str] | None:
    """(scheme, host[:port], path) of an http(s) URL for comparison, or ``None``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in ("http", "https") or not host or "@" in parts.netloc:
        return None
    default = 443 if scheme == "https" else 80
    netloc = host if port in (None, default) else f"{host}:{port}"
    return scheme, netloc, unquote(parts.path) or "/"


def same_url(htu: object, expected: str) -> bool:
    """RFC 9449 §4.3 check 9: ``htu`` names ``expected`` (query and fragment ignored)."""
    if not isinstance(htu, str) or len(htu) > MAX_PROOF:
        return False
    mine = normal_url(expected)
    return mine is not None and normal_url(htu) == mine


def _segment(encoded: str) -> Any:
    try:
        return orjson.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise ProofInvalid("malformed") from exc


def _public_key(alg: str, jwk: object) -> Any:
    """The public key of ``jwk`` for ``alg``: the right type and curve, nothing private."""
    if not isinstance(jwk, dict) or _PRIVATE_MEMBERS & jwk.keys():
        raise ProofInvalid("jwk is not a public key")
    if jwk.get("kty") != _KTY_OF_ALG[alg]:
        raise ProofInvalid("jwk does not match alg")
    try:
        if alg == "ES256":
            key: Any = ECAlgorithm.from_jwk(jwk)
            ok = isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
        elif alg == "EdDSA":
            key = OKPAlgorithm.from_jwk(jwk)
            ok = isinstance(key, ed25519.Ed25519PublicKey)
        else:
            key = RSAAlgorithm.from_jwk(jwk)
            ok = isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise ProofInvalid("jwk is not a usable key") from exc
    if not ok:
        raise ProofInvalid("jwk does not match alg")
    return key


def _verified(proof: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a proof whose signature verifies with its own ``jwk``."""
    if len(proof) > MAX_PROOF or proof.count(".") != 2:
        raise ProofInvalid("malformed")
    header = _segment(proof.split(".", 1)[0])
    if not isinstance(header, dict) or header.get("typ") != PROOF_TYPE:
        raise ProofInvalid("typ is not dpop+jwt")
    alg = header.get("alg")
    if alg not in SIGNING_ALGS:
        raise ProofInvalid("alg not allowed")
    if "crit" in header:
        raise ProofInvalid("crit not supported")
    key = _public_key(alg, header.get("jwk"))
    try:
        payload = _jws.decode(proof, key, algorithms=[alg])
    except jwt.PyJWTError as exc:
        raise ProofInvalid("bad signature") from exc
    try:
        claims = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ProofInvalid("malformed") from exc
    if not isinstance(claims, dict):
        raise ProofInvalid("malformed")
    return header, claims


def check_proof(
    proof: str | None,
    *,
    method: str,
    url: str,
    now: float,
    access_token: str | None = None,
    jkt: str | None = None,
) -> Proof:
    """RFC 9449 §4.3 for one request (``method``, ``url`` as the client addressed it); with
    ``access_token`` and ``jkt`` (a call with a bound token), §4.3 checks 10–12 too."""
    if proof is None or proof == "":
        raise ProofInvalid("missing")
    header, claims = _verified(proof)
    jti, iat = claims.get("jti"), claims.get("iat")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI:
        raise ProofInvalid("jti missing or too long")
    if claims.get("htm") != method:
        raise ProofInvalid("htm does not match")
    if not same_url(claims.get("htu"), url):
        raise ProofInvalid("htu does not match")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise ProofInvalid("iat missing")
    if not now - IAT_WINDOW <= iat <= now + IAT_WINDOW:
        raise ProofInvalid("iat outside the window")
    key_thumbprint = thumbprint(header["jwk"])
    if access_token is not None:
        if claims.get("ath") != access_token_hash(access_token):
            raise ProofInvalid("ath does not match")
        if key_thumbprint != jkt:
            raise ProofInvalid("key is not the token's")
    return Proof(key_thumbprint, jti)
