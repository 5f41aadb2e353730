"""The OAuth 2.0 endpoints are documented as they behave: client authentication where the route
enforces it, the form fields it reads, OAuth's error body (checked against real answers), and
code samples that work when run."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from fluide.apidocs.security import SECURITY
from fluide.catalog import Access
from tests.apidocs.conftest import LiveServer
from tests.apidocs.kinds import classify
from tests.conftest import Dev
from tests.identity.oauth.support import basic, wrong_secret

TOKEN, INTROSPECT, REVOKE = "/oauth/token", "/oauth/introspect", "/oauth/revoke"
CLIENT_AUTHENTICATED = (TOKEN, INTROSPECT, REVOKE)
METADATA = "/.well-known/oauth-authorization-server"
FORM = "application/x-www-form-urlencoded"


async def _doc(client: httpx.AsyncClient) -> dict[str, Any]:
    resp = await client.get("/openapi.json")
    assert resp.status_code == 200
    doc: dict[str, Any] = resp.json()
    return doc


def _validator(doc: dict[str, Any], path: str, status: str) -> Draft202012Validator:
    """The documented JSON schema of ``path``'s ``status`` answer, its refs resolved in the
    document."""
    content = doc["paths"][path]["post"]["responses"][status]["content"]
    schema = content["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": doc["components"]})


def _form_fields(doc: dict[str, Any], path: str) -> dict[str, Any]:
    body = doc["paths"][path]["post"]["requestBody"]
    assert set(body["content"]) == {FORM}, path  # the form only: no JSON body is read
    props: dict[str, Any] = body["content"][FORM]["schema"]["properties"]
    return props


async def _token(client: httpx.AsyncClient, dev: Dev) -> str:
    data = {"grant_type": "client_credentials"}
    resp = await client.post(TOKEN, data=data, headers=basic(dev.api_key, dev.api_secret))
    assert resp.status_code == 200, resp.text
    token: str = resp.json()["access_token"]
    return token


async def test_oauth_operations_document_the_client_authentication_they_enforce(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    doc = await _doc(client)
    scheme = doc["components"]["securitySchemes"]["oauthClient"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "basic")
    assert "client_secret_post" in scheme["description"]
    assert doc["paths"][METADATA]["get"]["security"] == []
    assert (await client.get(METADATA)).status_code == 200  # public, as documented
    token = await _token(client, dev)
    fields = {TOKEN: {"grant_type": "client_credentials"}, INTROSPECT: {"token": token}}
    fields[REVOKE] = {"token": token}
    for path in CLIENT_AUTHENTICATED:
        op = doc["paths"][path]["post"]
        assert classify(path) is Access.OAUTH_CLIENT
        assert op["security"] == SECURITY[Access.OAUTH_CLIENT] == [{"oauthClient": []}]
        # Without client authentication: invalid_client with the Basic challenge ...
        resp = await client.post(path, data=fields[path])
        assert resp.status_code == 401, (path, resp.text)
        assert resp.json()["error"] == "invalid_client"
        assert resp.headers["www-authenticate"].startswith("Basic ")
        assert "401" in op["responses"] and "WWW-Authenticate" in op["responses"]["401"]["headers"]
        # ... with a wrong secret too; with the documented Basic scheme: 200.
        wrong = basic(dev.api_key, wrong_secret(dev.api_secret))
        assert (await client.post(path, data=fields[path], headers=wrong)).status_code == 401
        ok = basic(dev.api_key, dev.api_secret)
        resp = await client.post(path, data=fields[path], headers=ok)
        assert resp.status_code == 200, (path, resp.text)
        assert resp.headers["cache-control"] == "no-store"
        for status, response in op["responses"].items():
            if status != "500":
                assert response["headers"]["Cache-Control"]["schema"]["const"] == "no-store"


async def test_every_documented_form_field_is_accepted(client: httpx.AsyncClient, dev: Dev) -> None:
    doc = await _doc(client)
    token_fields = _form_fields(doc, TOKEN)
    assert set(token_fields) == {"grant_type", "scope", "client_id", "client_secret"}
    # client_secret_post: every documented field at once, values from the document itself.
    data = {
        "grant_type": token_fields["grant_type"]["enum"][0],
        "scope": token_fields["scope"]["examples"][0],
        "client_id": dev.api_key,
        "client_secret": dev.api_secret,
    }
    resp = await client.post(TOKEN, data=data)
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert answer["scope"] == data["scope"]
    ok_schema = doc["paths"][TOKEN]["post"]["responses"]["200"]["content"]["application/json"]
    Draft202012Validator({**ok_schema["schema"], "components": doc["components"]}).validate(answer)
    token = answer["access_token"]
    for path in (INTROSPECT, REVOKE):
        fields = _form_fields(doc, path)
        assert set(fields) == {"token", "token_type_hint", "client_id", "client_secret"}
        data = {
            "token": token,
            "token_type_hint": fields["token_type_hint"]["enum"][0],
            "client_id": dev.api_key,
            "client_secret": dev.api_secret,
        }
        resp = await client.post(path, data=data)
        assert resp.status_code == 200, (path, resp.text)
        if path == INTROSPECT:
            assert resp.json()["active"] is True
            assert resp.json()["scope"] == "hr:read payroll:read"
    # Revoked by the last call: introspection now says so, in the documented shape.
    resp = await client.post(
        INTROSPECT, data={"token": token}, headers=basic(dev.api_key, dev.api_secret)
    )
    assert resp.json() == {"active": False}
    assert "content" not in doc["paths"][REVOKE]["post"]["responses"]["200"]  # an empty 200


async def test_the_documented_error_schema_validates_real_errors(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    doc = await _doc(client)
    ok = basic(dev.api_key, dev.api_secret)
    cases = [
        (TOKEN, {"grant_type": "client_credentials"}, {}, 401, "invalid_client"),
        (TOKEN, {"grant_type": "password"}, ok, 400, "unsupported_grant_type"),
        (TOKEN, {}, ok, 400, "invalid_request"),
        (
            TOKEN,
            {"grant_type": "client_credentials", "scope": "nope:read"},
            ok,
            400,
            "invalid_scope",
        ),
        (
            TOKEN,
            {"grant_type": "client_credentials", "client_secret": "x"},
            ok,
            400,
            "invalid_request",
        ),
        (INTROSPECT, {}, ok, 400, "invalid_request"),
        (INTROSPECT, {"token": "t"}, {}, 401, "invalid_client"),
        (
            REVOKE,
            {"token": "t", "client_id": dev.api_key, "client_secret": "wrong"},
            {},
            401,
            "invalid_client",
        ),
    ]
    for path, data, headers, status, error in cases:
        resp = await client.post(path, data=data, headers=headers)
        assert (resp.status_code, resp.json().get("error")) == (status, error), (path, data)
        _validator(doc, path, str(status)).validate(resp.json())
        assert resp.headers["cache-control"] == "no-store"
    # The schema is OAuth's, not a catch-all: the Fluide envelope is no 401 of these endpoints.
    envelope = {"success": False, "code": "DEVELOPER_KEYS_INVALID", "message": "x"}
    for path in CLIENT_AUTHENTICATED:
        for status in ("401", "429"):
            assert not _validator(doc, path, status).is_valid(envelope)
            assert not _validator(doc, path, status).is_valid(
                {"error": "made_up", "error_description": "x"}
            )
        assert _validator(doc, path, "503").is_valid(
            {"error": "temporarily_unavailable", "error_description": "x"}
        )


class TestRateLimited:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"exchange_limit_per_key": "2/minute"}

    @pytest.mark.usefixtures("whole_minute")
    async def test_a_429_matches_the_documented_schema(
        self, client: httpx.AsyncClient, dev: Dev
    ) -> None:
        doc = await _doc(client)
        data = {"grant_type": "client_credentials"}
        headers = basic(dev.api_key, dev.api_secret)
        statuses = [(await client.post(TOKEN, data=data, headers=headers)) for _ in range(4)]
        limited = [r for r in statuses if r.status_code == 429]
        assert limited, [r.status_code for r in statuses]
        body = limited[0].json()
        assert body["error"] == "temporarily_unavailable"
        _validator(doc, TOKEN, "429").validate(body)
        assert "Retry-After" in doc["paths"][TOKEN]["post"]["responses"]["429"]["headers"]
        assert int(limited[0].headers["retry-after"]) >= 1


async def test_code_samples_use_the_standard_wire_format(client: httpx.AsyncClient) -> None:
    doc = await _doc(client)
    for path in CLIENT_AUTHENTICATED:
        samples = {s["lang"]: s["source"] for s in doc["paths"][path]["post"]["x-codeSamples"]}
        assert set(samples) == {"Shell", "Python", "JavaScript"}
        assert '-u "$FLUIDE_API_KEY:$FLUIDE_API_SECRET"' in samples["Shell"]
        assert "X-Fluide" not in "".join(samples.values()), path
        assert "httpx.post(" in samples["Python"] and "auth=(" in samples["Python"]
        assert "fetch(" in samples["JavaScript"] and "URLSearchParams" in samples["JavaScript"]
    assert "-d grant_type=client_credentials" in samples_of(doc, TOKEN)["Shell"]


def samples_of(doc: dict[str, Any], path: str) -> dict[str, str]:
    return {s["lang"]: s["source"] for s in doc["paths"][path]["post"]["x-codeSamples"]}


def _run(lang: str, source: str, env: dict[str, str]) -> str:
    command = {"Shell": ["bash", "-c", source], "Python": [sys.executable, "-c", source]}
    if lang == "JavaScript":
        command[lang] = ["node", "--input-type=module", "-e", source]
    done = subprocess.run(command[lang], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (lang, done.stderr)
    return done.stdout


@pytest.mark.slow
def test_the_samples_run_against_a_live_server(live_server: LiveServer) -> None:
    """Each sample, run as printed, gets a token, introspects and revokes it."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "FLUIDE_BASE_URL": live_server.base_url,
        "FLUIDE_API_KEY": live_server.api_key,
        "FLUIDE_API_SECRET": live_server.api_secret,
    }
    doc = httpx.get(f"{live_server.base_url}/openapi.json").json()
    langs = ["Shell", "Python"] + (["JavaScript"] if _has_node() else [])
    for lang in langs:
        out = _run(lang, samples_of(doc, TOKEN)[lang], env)
        if lang == "Python":  # the sample keeps the token in a variable: print it
            out = _run(lang, samples_of(doc, TOKEN)[lang] + "\nprint(token)", env)
            token = out.strip()
        else:
            token = httpx.Response(200, content=out.encode()).json()["access_token"]
        env["FLUIDE_TOKEN"] = token
        out = _run(lang, samples_of(doc, INTROSPECT)[lang], env).lower()
        assert "active" in out and "true" in out, (lang, out)
        _run(lang, samples_of(doc, REVOKE)[lang], env)
        out = _run(lang, samples_of(doc, INTROSPECT)[lang], env)
        assert "false" in out.lower() and "true" not in out.lower(), (lang, out)


def _has_node() -> bool:
    return subprocess.run(["which", "node"], capture_output=True).returncode == 0


async def test_the_documented_length_limits_are_the_enforced_ones(
    client: httpx.AsyncClient, dev: Dev
) -> None:
    doc = await _doc(client)
    for path in CLIENT_AUTHENTICATED:
        fields = _form_fields(doc, path)
        base = {"grant_type": "client_credentials"} if path == TOKEN else {"token": "t"}
        for name in ("client_id", "client_secret"):
            limit = fields[name]["maxLength"]
            for length, status in ((limit, 401), (limit + 1, 400), (100_000, 400)):
                data = {**base, "client_id": dev.api_key, "client_secret": dev.api_secret}
                data[name] = "a" * length
                resp = await client.post(path, data=data)
                assert resp.status_code == status, (path, name, length, resp.text)
                _validator(doc, path, str(status)).validate(resp.json())
    limit = _form_fields(doc, TOKEN)["scope"]["maxLength"]
    ok = basic(dev.api_key, dev.api_secret)
    data = {"grant_type": "client_credentials", "scope": "hr:read " * (limit // 8 + 1)}
    assert len(data["scope"]) > limit
    resp = await client.post(TOKEN, data=data, headers=ok)
    assert (resp.status_code, resp.json()["error"]) == (400, "invalid_scope")
