"""JWT minting and checking. Pure: no framework, no database; ``now`` is passed in."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm, get_default_algorithms

ALLOWED_ALGS = frozenset({"ES256", "RS256", "EdDSA"})
TOKEN_TYPE = "at+jwt"  # noqa: S105
REQUIRED_CLAIMS = (
    "iss",
    "sub",
    "iat",
    "nbf",
    "exp",
    "jti",
    "tenant_id",
    "fluide_client_id",
    "api_key",
    "scope",
    "gen",
)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


class TokenError(Exception):
    code = "TOKEN_INVALID"
    message = "Access token is invalid"


class TokenInvalid(TokenError):
    pass


class TokenExpired(TokenError):
    code = "TOKEN_EXPIRED"
    message = "Access token has expired"


@dataclass(frozen=True, slots=True)
class VerifyKey:
    kid: str
    alg: str
    public_key: PublicKey

    def __repr__(self) -> str:
        return f"VerifyKey(kid={self.kid!r}, alg={self.alg!r})"


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: str
    private_key: PrivateKey

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r}, alg={self.alg!r})"


def generate_private_key(alg: str) -> PrivateKey:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unsupported signing algorithm {alg!r}")


def private_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_pem(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(
        key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise ValueError("unsupported key type")
    return key


def public_jwk(kid: str, alg: str, public_key: PublicKey) -> dict[str, Any]:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public_key, as_dict=True)
    elif isinstance(public_key, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(public_key, as_dict=True)
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


def new_kid(public_key: PublicKey) -> str:
    """RFC 7638-style thumbprint: the same key always gets the same id."""
    jwk = public_jwk("", "", public_key)
    members = {k: jwk[k] for k in ("crv", "e", "kty", "n", "x", "y") if k in jwk}
    digest = hashlib.sha256(orjson.dumps(members, option=orjson.OPT_SORT_KEYS)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()[:32]


class KeyEncryptor:
    """AES-256-GCM under a key derived from the key-encryption key; the kid is bound as AAD."""

    def __init__(self, kek: bytes) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"fluide signing keys v1"
        ).derive(kek)
        self._aead = AESGCM(derived)

    def encrypt(self, kid: str, plaintext: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext, kid.encode())

    def decrypt(self, kid: str, blob: bytes) -> bytes:
        return self._aead.decrypt(blob[:12], blob[12:], kid.encode())

    def __repr__(self) -> str:
        return "KeyEncryptor(kek=***)"


_ALGORITHMS = get_default_algorithms()


@lru_cache(maxsize=16)
def _encoded_header(kid: str, alg: str, typ: str = TOKEN_TYPE) -> bytes:
    header = {"alg": alg, "kid": kid, "typ": typ}
    return base64.urlsafe_b64encode(orjson.dumps(header)).rstrip(b"=")


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


_ES256 = ec.ECDSA(hashes.SHA256())
# The order of P-256. For an ECDSA signature (r, s), (r, n - s) verifies too: a second,
# different token string for the same claims. We sign with s <= n/2 and refuse the other half
# (DESIGN §4), so every token has one signature.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P256_HALF_ORDER = P256_ORDER // 2


def _sign(signing_input: bytes, key: SigningKey) -> bytes:
    private_key = key.private_key
    if key.alg == "ES256":
        if not (
            isinstance(private_key, ec.EllipticCurvePrivateKey)
            and isinstance(private_key.curve, ec.SECP256R1)
        ):
            raise ValueError("ES256 needs a P-256 key")
        # RFC 7518 §3.4: R and S as two 32-byte big-endian integers (OpenSSL returns DER),
        # S normalised to the low half so that verify() accepts it.
        r, s = decode_dss_signature(private_key.sign(signing_input, _ES256))
        if s > P256_HALF_ORDER:
            s = P256_ORDER - s
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return _ALGORITHMS[key.alg].sign(signing_input, private_key)


def mint(claims: dict[str, Any], key: SigningKey, typ: str = TOKEN_TYPE) -> str:
    """A compact JWS: the header of a key is encoded once and the claims with orjson
    (``jwt.encode`` re-encodes both per call, twice the cost); ES256 is signed here, the other
    algorithms by PyJWT's. ``typ``: another token type (``verify`` refuses all but
    ``at+jwt``, so such a token is never an access token)."""
    signing_input = _encoded_header(key.kid, key.alg, typ) + b"." + _b64(orjson.dumps(claims))
    return (signing_input + b"." + _b64(_sign(signing_input, key))).decode()


_decoder = jwt.PyJWT()
_NO_TIME_CHECKS = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
}


def _header(token: str) -> dict[str, Any]:
    try:
        head_b64 = token.split(".", 1)[0]
        padded = head_b64 + "=" * (-len(head_b64) % 4)
        header = orjson.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, binascii.Error, orjson.JSONDecodeError, IndexError) as exc:
        raise TokenInvalid from exc
    if not isinstance(header, dict):
        raise TokenInvalid
    return header


def _check_signature_encoding(token: str, alg: str) -> None:
    """One token string per signature: the signature segment must be canonical base64url (the
    spare bits of its last character zero), and an ES256 ``s`` in the low half of the order.
    Header and claims need no such check: the signature covers their encoded form."""
    encoded = token.rsplit(".", 1)[1]
    try:
        signature = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenInvalid from exc
    if _b64(signature).decode("ascii") != encoded:
        raise TokenInvalid
    if alg == "ES256" and (
        len(signature) != 64 or int.from_bytes(signature[32:], "big") > P256_HALF_ORDER
    ):
        raise TokenInvalid


def verify(
    token: str,
    keys: dict[str, VerifyKey],
    *,
    issuer: str,
    now: float,
    leeway: float,
) -> dict[str, Any]:
    """Check signature, header and claims; return the claims or raise a ``TokenError``.

    Order: structure and header (alg allow-list, known kid, typ), the signature's encoding
    (canonical base64url; for ES256 64 bytes with a low ``s``), signature, issuer, required
    claims, then time (``nbf`` is a signature-class failure, ``exp`` is expiry).
    """
    if token.count(".") != 2 or len(token) > 8192:
        raise TokenInvalid
    header = _header(token)
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALLOWED_ALGS or not isinstance(kid, str) or header.get("typ") != TOKEN_TYPE:
        raise TokenInvalid
    # Refuse headers that point at other key material (jku/x5u/jwk/x5c): we only trust our set.
    if any(h in header for h in ("jku", "x5u", "jwk", "x5c", "crit")):
        raise TokenInvalid
    key = keys.get(kid)
    if key is None or key.alg != alg:
        raise TokenInvalid
    _check_signature_encoding(token, alg)
    try:
        claims: dict[str, Any] = _decoder.decode(
            token,
            key.public_key,
            algorithms=[alg],
            options=_NO_TIME_CHECKS,  # type: ignore[arg-type]
        )
    except jwt.PyJWTError as exc:
        raise TokenInvalid from exc
    if claims.get("iss") != issuer:
        raise TokenInvalid
    for name in REQUIRED_CLAIMS:
        if name not in claims:
            raise TokenInvalid
    exp, nbf, iat = claims["exp"], claims["nbf"], claims["iat"]
    if not all(
        isinstance(v, int) and not isinstance(v, bool) for v in (exp, nbf, iat, claims["gen"])
    ):
        raise TokenInvalid
    if not all(
        isinstance(claims[n], str)
        for n in ("sub", "jti", "tenant_id", "fluide_client_id", "api_key", "scope")
    ):
        raise TokenInvalid
    if nbf > now + leeway:
        raise TokenInvalid
    if exp <= now - leeway:
        raise TokenExpired
    return claims
