"""A JWT attack corpus against the developer session and a guarded product route.

Each forged or misused token must be a 401 with the code DESIGN §3.5 gives it, on both
``GET /api/v1/authorize/current`` and ``GET /api/v1/hr/health``; the genuine token is the
control that proves the routes accept a good token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.api_jwk import PyJWK

from fluide.app import App
from fluide.identity import credentials, jwt_core
from fluide.identity.audit import Actor
from fluide.kit.clock import FrozenClock
from tests.conftest import CLIENT_ID, Dev, bearer, create_dev, exchange
from tests.reliability.report import COUNTS

ROUTES = ("/api/v1/authorize/current", "/api/v1/hr/health")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def segments(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())


def hs256(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    signing_input = segments({**header, "alg": "HS256"}, claims)
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(sig)


def sign(header: dict[str, Any], claims: dict[str, Any], key: Any, alg: str) -> str:
    """Sign whatever header we like (PyJWT's encoder would validate it)."""
    head = {k: v for k, v in {**header, "alg": alg}.items() if v is not None}
    signing_input = segments(head, claims)
    sig = pyjwt.get_algorithm_by_name(alg).sign(signing_input.encode(), key)
    return signing_input + "." + b64(sig)


def es256(header: dict[str, Any], claims: dict[str, Any], key: ec.EllipticCurvePrivateKey) -> str:
    return sign(header, claims, key, "ES256")


@dataclass
class Ctx:
    token: str
    header: dict[str, Any]
    claims: dict[str, Any]
    public_pem: bytes
    public_jwk: dict[str, Any]
    server_key: jwt_core.SigningKey
    attacker: ec.EllipticCurvePrivateKey
    attacker_jwk: dict[str, Any]
    other_token: str
    now: int

    def server_signed(self, claims: dict[str, Any], **header: Any) -> str:
        """Signed with the real key: only the claims or extra headers are wrong."""
        if not header:
            return jwt_core.mint(claims, self.server_key)
        return sign(
            {"kid": self.server_key.kid, "typ": "at+jwt", **header},
            claims,
            self.server_key.private_key,
            self.server_key.alg,
        )

    def tamper(self, **changes: Any) -> str:
        """New claims, original header and signature."""
        head, _, sig = self.token.split(".")
        body = b64(json.dumps({**self.claims, **changes}).encode())
        return f"{head}.{body}.{sig}"

    def without(self, name: str) -> dict[str, Any]:
        return {k: v for k, v in self.claims.items() if k != name}


Attack = tuple[str, Callable[[Ctx], str], str]


def high_s_twin(c: Ctx) -> str:
    head, _, sig = c.token.rpartition(".")
    raw = unb64(sig)
    s = int.from_bytes(raw[32:], "big")
    return head + "." + b64(raw[:32] + (jwt_core.P256_ORDER - s).to_bytes(32, "big"))


def non_canonical_twin(c: Ctx) -> str:
    head, _, sig = c.token.rpartition(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = alphabet.index(sig[-1])
    # 64 bytes in 86 characters: the last one carries 4 spare bits that decoders ignore.
    twin = head + "." + sig[:-1] + alphabet[index | 0b0001 if index % 2 == 0 else index & ~1]
    assert unb64(twin.rpartition(".")[2]) == unb64(sig) and twin != c.token
    return twin


def _attacks() -> list[Attack]:
    inv, exp = "TOKEN_INVALID", "TOKEN_EXPIRED"
    out: list[Attack] = []
    # alg: none, in every spelling, with and without a signature.
    for alg in ("none", "None", "NONE", "nOnE"):
        out.append(
            (
                f"alg={alg}",
                lambda c, a=alg: segments({**c.header, "alg": a}, {**c.claims, "scope": "x"}) + ".",
                inv,
            )
        )
    out.append(
        (
            "alg=none with the original signature",
            lambda c: segments({**c.header, "alg": "none"}, c.claims) + "." + c.token.split(".")[2],
            inv,
        )
    )
    # HS256 keyed with the public key the JWKS publishes.
    out += [
        (
            "HS256 keyed with the PEM public key",
            lambda c: hs256(c.header, c.claims, c.public_pem),
            inv,
        ),
        (
            "HS256 keyed with the PEM public key (no trailing newline)",
            lambda c: hs256(c.header, c.claims, c.public_pem.strip()),
            inv,
        ),
        (
            "HS256 keyed with the JWK JSON",
            lambda c: hs256(c.header, c.claims, json.dumps(c.public_jwk).encode()),
            inv,
        ),
        (
            "HS256 keyed with the JWK x coordinate",
            lambda c: hs256(c.header, c.claims, unb64(c.public_jwk["x"])),
            inv,
        ),
        ("HS256 keyed with empty bytes", lambda c: hs256(c.header, c.claims, b""), inv),
        ("HS512 header", lambda c: segments({**c.header, "alg": "HS512"}, c.claims) + ".AAAA", inv),
    ]
    # kid games.
    for kid in (
        "../../../../../../dev/null",
        "/dev/null",
        "../../.fluide/key-encryption-key",
        "x' OR '1'='1",
        "'; DROP TABLE signing_keys; --",
        "1 UNION SELECT 'attacker-key'",
        "unknown-kid",
        "",
    ):
        out.append(
            (
                f"kid={kid!r} HS256 empty key",
                lambda c, k=kid: hs256({**c.header, "kid": k}, c.claims, b""),
                inv,
            )
        )
        out.append(
            (
                f"kid={kid!r} signed by the attacker",
                lambda c, k=kid: es256({**c.header, "kid": k}, c.claims, c.attacker),
                inv,
            )
        )
    out.append(("kid missing", lambda c: es256({"typ": "at+jwt"}, c.claims, c.attacker), inv))
    out.append(("kid as a number", lambda c: c.server_signed(c.claims, kid=7), inv))
    # Key material in the header, pointing at the attacker (own kid and the server's kid).
    for name, extra in (
        ("jku", lambda c: {"jku": "http://127.0.0.1:9/jwks.json"}),
        ("x5u", lambda c: {"x5u": "http://127.0.0.1:9/cert.pem"}),
        ("jwk", lambda c: {"jwk": c.attacker_jwk}),
        ("x5c", lambda c: {"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}),
    ):
        out.append(
            (
                f"{name} header, attacker kid, attacker signature",
                lambda c, e=extra: es256(
                    {**c.header, **e(c), "kid": c.attacker_jwk["kid"]}, c.claims, c.attacker
                ),
                inv,
            )
        )
        out.append(
            (
                f"{name} header, server kid, attacker signature",
                lambda c, e=extra: es256({**c.header, **e(c)}, c.claims, c.attacker),
                inv,
            )
        )
        out.append(
            (
                f"{name} header on an otherwise genuine token",
                lambda c, e=extra: c.server_signed(c.claims, **e(c)),
                inv,
            )
        )
    out.append(("crit header", lambda c: c.server_signed(c.claims, crit=["exp"]), inv))
    out.append(("attacker key, server kid", lambda c: es256(c.header, c.claims, c.attacker), inv))
    out.append(
        (
            "RS256 header with the server kid",
            lambda c: sign(
                c.header,
                c.claims,
                rsa.generate_private_key(public_exponent=65537, key_size=2048),
                "RS256",
            ),
            inv,
        )
    )
    out.append(("typ missing", lambda c: c.server_signed(c.claims, typ=None), inv))
    out.append(("typ JWT", lambda c: c.server_signed(c.claims, typ="JWT"), inv))
    # Tampered claims, original signature.
    out += [
        ("tampered scope", lambda c: c.tamper(scope="hr:read hr:write admin"), inv),
        ("tampered tenant_id", lambda c: c.tamper(tenant_id="ten_" + uuid.uuid4().hex), inv),
        ("tampered api_key", lambda c: c.tamper(api_key="fl_dev_" + "A" * 38), inv),
        ("tampered exp", lambda c: c.tamper(exp=c.claims["exp"] + 86400 * 365), inv),
        ("tampered gen", lambda c: c.tamper(gen=10**6), inv),
        ("tampered sub", lambda c: c.tamper(sub="cred_" + uuid.uuid4().hex), inv),
        ("tampered client", lambda c: c.tamper(fluide_client_id="other-client"), inv),
        ("signature stripped", lambda c: c.token.rsplit(".", 1)[0] + ".", inv),
        (
            "signature of another token",
            lambda c: c.token.rsplit(".", 1)[0] + "." + c.other_token.rsplit(".", 1)[1],
            inv,
        ),
        (
            "all-zero ECDSA signature",
            lambda c: c.token.rsplit(".", 1)[0] + "." + b64(bytes(64)),
            inv,
        ),
        ("truncated signature", lambda c: c.token[:-10], inv),
        # The genuine signature's twin (r, n - s): valid ECDSA, refused (DESIGN §4: low s).
        ("ECDSA high-s twin of the genuine token", high_s_twin, inv),
        # The genuine signature with the spare bits of its last base64url character set.
        ("non-canonical base64 of the genuine signature", non_canonical_twin, inv),
        (
            "ECDSA signature in DER form",
            lambda c: c.token.rsplit(".", 1)[0] + "." + b64(b"\x30\x06\x02\x01\x01\x02\x01\x01"),
            inv,
        ),
    ]
    # Genuine signature, wrong claims.
    out += [
        ("expired", lambda c: c.server_signed({**c.claims, "exp": c.now - 3600}), exp),
        (
            "expired past the leeway",
            lambda c: c.server_signed({**c.claims, "exp": c.now - 11}),
            exp,
        ),
        ("nbf in the future", lambda c: c.server_signed({**c.claims, "nbf": c.now + 3600}), inv),
        ("wrong iss", lambda c: c.server_signed({**c.claims, "iss": "https://evil.example"}), inv),
        ("iss missing", lambda c: c.server_signed(c.without("iss")), inv),
        # RFC 9068 §4: a token for another audience is not ours to accept (issue 16).
        ("wrong aud", lambda c: c.server_signed({**c.claims, "aud": "https://evil.example"}), inv),
        ("aud an empty list", lambda c: c.server_signed({**c.claims, "aud": []}), inv),
        ("aud a list without ours", lambda c: c.server_signed({**c.claims, "aud": ["x"]}), inv),
        ("aud a number", lambda c: c.server_signed({**c.claims, "aud": 1}), inv),
        (
            "aud a list with ours and a non-string",
            lambda c: c.server_signed({**c.claims, "aud": [c.claims["aud"], 1]}),
            inv,
        ),
        ("exp as a string", lambda c: c.server_signed({**c.claims, "exp": "99999999999"}), inv),
        ("exp as a float", lambda c: c.server_signed({**c.claims, "exp": c.now + 600.5}), inv),
        ("gen as a bool", lambda c: c.server_signed({**c.claims, "gen": True}), inv),
        ("scope as a list", lambda c: c.server_signed({**c.claims, "scope": ["hr:read"]}), inv),
    ]
    for claim in jwt_core.REQUIRED_CLAIMS:
        if claim != "iss":
            out.append((f"{claim} missing", lambda c, n=claim: c.server_signed(c.without(n)), inv))
    # Malformed.
    out += [
        ("three dots", lambda c: "a.b.c", inv),
        ("empty segments", lambda c: "..", inv),
        ("header not JSON", lambda c: b64(b"not json") + "." + c.token.split(".", 1)[1], inv),
        ("header a JSON list", lambda c: b64(b"[1,2]") + "." + c.token.split(".", 1)[1], inv),
        ("payload not JSON", lambda c: c.token.split(".")[0] + "." + b64(b"{") + ".AAAA", inv),
        ("non-base64 characters", lambda c: c.token.replace(c.token[5], "*", 1), inv),
        ("8 kB of base64", lambda c: "eyJ" + "A" * 4000 + "." + "B" * 4000 + ".C", inv),
        ("JWE-like five segments", lambda c: c.token + ".AAAA.BBBB", "AUTHORIZATION_MALFORMED"),
    ]
    return out


ATTACKS = _attacks()


async def _context(client: httpx.AsyncClient, runtime: App, dev: Dev, clock: FrozenClock) -> Ctx:
    body = await exchange(client, dev)
    token = body["accessToken"]
    header = pyjwt.get_unverified_header(token)
    claims = pyjwt.decode(token, options={"verify_signature": False})
    jwks = (await client.get("/.well-known/jwks.json")).json()["keys"]
    public_jwk = next(k for k in jwks if k["kid"] == header["kid"])
    public_key = PyJWK(public_jwk).key
    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    attacker = ec.generate_private_key(ec.SECP256R1())
    attacker_jwk = jwt_core.public_jwk("attacker-kid", "ES256", attacker.public_key())
    signing_key = runtime.identity.state.keyset.signing_key
    assert signing_key is not None
    return Ctx(
        token=token,
        header=header,
        claims=claims,
        public_pem=pem,
        public_jwk=public_jwk,
        server_key=signing_key,
        attacker=attacker,
        attacker_jwk=attacker_jwk,
        other_token=(await exchange(client, dev))["accessToken"],
        now=int(clock().timestamp()),
    )


async def _call(client: httpx.AsyncClient, route: str, headers: dict[str, str]) -> tuple[int, str]:
    resp = await client.get(route, headers=headers)
    body = resp.json()
    if resp.status_code >= 400:
        assert body["requestId"] == resp.headers["x-request-id"]
        return resp.status_code, str(body["code"])
    return resp.status_code, "OK"


async def test_forged_tokens_are_refused(
    client: httpx.AsyncClient, runtime: App, dev: Dev, clock: FrozenClock
) -> None:
    ctx = await _context(client, runtime, dev, clock)
    for route in ROUTES:  # the control: the genuine token works
        assert await _call(client, route, bearer(ctx.token, dev)) == (200, "OK")
    wrong: list[str] = []
    for name, build, expected in ATTACKS:
        forged = build(ctx)
        for route in ROUTES:
            status, code = await _call(client, route, bearer(forged, dev))
            COUNTS["jwt_forged_requests"] += 1
            if (status, code) != (401, expected):
                wrong.append(f"{name} on {route}: {status} {code} (expected 401 {expected})")
    assert not wrong, "\n".join(wrong)
    for route in ROUTES:  # and nothing above broke the genuine token
        assert await _call(client, route, bearer(ctx.token, dev)) == (200, "OK")


async def test_revoked_rotated_and_swapped_tokens(
    client: httpx.AsyncClient, runtime: App, dev: Dev, clock: FrozenClock
) -> None:
    other = await create_dev(runtime)
    results: list[tuple[str, str, tuple[int, str]]] = []

    async def expect(name: str, headers: dict[str, str], code: str) -> None:
        for route in ROUTES:
            got = await _call(client, route, headers)
            COUNTS["jwt_misused_requests"] += 1
            results.append((f"{name} on {route}", code, got))

    # Another tenant's key with my token; my key with their token.
    mine = (await exchange(client, dev))["accessToken"]
    theirs = (await exchange(client, other))["accessToken"]
    await expect("my token, their key", bearer(mine, other), "API_KEY_MISMATCH")
    await expect("their token, my key", bearer(theirs, dev), "API_KEY_MISMATCH")
    await expect(
        "another client id",
        bearer(mine, dev, client_id="fluide-dashboard"),
        "CLIENT_AUDIENCE_MISMATCH",
    )

    # Signed out (token revoked).
    signed_out = (await exchange(client, dev))["accessToken"]
    resp = await client.post("/api/v1/authorize/revoke", headers=bearer(signed_out, dev))
    assert resp.status_code == 204, resp.text
    await expect("signed-out token", bearer(signed_out, dev), "TOKEN_REVOKED")

    # Minted before a rotation without grace (the caller's own token included).
    before = (await exchange(client, dev))["accessToken"]
    rotator = (await exchange(client, dev))["accessToken"]
    resp = await client.post(
        "/api/v1/authorize/rotate-secret", headers=bearer(rotator, dev), json={"graceSeconds": 0}
    )
    assert resp.status_code == 200, resp.text
    new_secret = resp.json()["apiSecret"]
    await expect("token from before a rotation", bearer(before, dev), "TOKEN_REVOKED")
    await expect("the rotating caller's token", bearer(rotator, dev), "TOKEN_REVOKED")
    after = (await exchange(client, dev, secret=new_secret))["accessToken"]
    await expect("token after the rotation (control)", bearer(after, dev), "OK")

    # Expired by the clock moving on (genuine token, no forging).
    clock.advance(
        runtime.infra.settings.token_ttl_seconds + runtime.infra.settings.token_leeway_seconds + 1
    )
    await expect("token past exp + leeway", bearer(after, dev), "TOKEN_EXPIRED")
    clock.advance(
        -(
            runtime.infra.settings.token_ttl_seconds
            + runtime.infra.settings.token_leeway_seconds
            + 1
        )
    )

    # The credential revoked: its tokens stop, even unexpired ones.
    live = (await exchange(client, other))["accessToken"]
    async with runtime.infra.sessionmaker() as session, session.begin():
        cred = await credentials.get_for_tenant(
            session, other.tenant_id, other.credential_id, for_update=True
        )
        await runtime.identity.credentials.revoke(
            session, Actor("system", "test", None, None), cred
        )
    await runtime.identity.feed.changed()
    await expect("token of a revoked credential", bearer(live, other), "CREDENTIAL_REVOKED")

    wrong = [
        f"{name}: got {got}, expected {code}"
        for name, code, got in results
        if got != ((200, "OK") if code == "OK" else (401, code))
    ]
    assert not wrong, "\n".join(wrong)


def test_corpus_size() -> None:
    """The corpus stays a corpus (guards against a refactor that drops attacks silently)."""
    assert len(ATTACKS) >= 60
    assert len({name for name, _, _ in ATTACKS}) == len(ATTACKS)
    assert CLIENT_ID == "fluide-developer"
