"""Example values generated from JSON Schemas, so every operation shows a request and a response."""

from __future__ import annotations

import copy
import re
from typing import Any

from fluide.apidocs.security import API_KEY_PLACEHOLDER, CLIENT_ID
from fluide.catalog import ALL_SCOPES, EXAMPLE_SCOPES

TIMESTAMP = "2026-11-27T12:00:00Z"
JWT_EXAMPLE = (
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImtleV8xIiwidHlwIjoiYXQrand0In0"
    ".eyJpc3MiOiJodHRwczovL2Nvbm5lY3QuZmx1aWRlLmxvY2FsIn0.c2lnbmF0dXJl"
)

# Field names whose example should look like the real thing.
_BY_NAME: dict[str, Any] = {
    "apiKey": API_KEY_PLACEHOLDER,
    "apiSecret": "fl_sk_your_secret",
    "accessToken": JWT_EXAMPLE,
    "sessionToken": "fl_sess_your_session_token",
    "tokenType": "Bearer",
    "jti": "01JDV6T2M3K4N5P6Q7R8S9T0VW",
    "tenantId": "ten_01JDV6T2M3K4N5P6Q7R8S9T0VW",
    "accountId": "acc_01JDV6T2M3K4N5P6Q7R8S9T0VW",
    "credentialId": "cred_01JDV6T2M3K4N5P6Q7R8S9T0VW",
    "fluideClientId": CLIENT_ID,
    "clientId": CLIENT_ID,
    "scope": " ".join(ALL_SCOPES),
    "scopes": list(EXAMPLE_SCOPES),
    "email": "dev@example.com",
    "password": "correct-horse-battery",
    "requestId": "5f2b8c1e9a7d4f3b8e6a1c2d3e4f5a6b",
    "currency": "EUR",
    "exp": 1795780800,
    "iat": 1795779900,
    "expiresIn": 900,
    "authContextPath": "/api/v1/auth-context/01JDV6T2M3K4N5P6Q7R8S9T0VW",
}
_BY_FORMAT = {
    "date-time": TIMESTAMP,
    "date": "2026-11-27",
    "email": "dev@example.com",
    "uri": "https://example.com",
    "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "decimal": "1250.00",
}


def _resolve(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        target = schemas.get(ref.rsplit("/", 1)[1])
        if isinstance(target, dict):
            return target
    return schema


def example_of(
    schema: dict[str, Any], schemas: dict[str, Any], name: str | None = None, depth: int = 0
) -> Any:
    """A plausible value for ``schema``; ``name`` is the property it fills, if any."""
    if depth > 8:
        return None
    schema = _resolve(schema, schemas)
    if "example" in schema:
        return copy.deepcopy(schema["example"])
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return copy.deepcopy(examples[0])
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if name in _BY_NAME and _fits(_BY_NAME[name], schema, schemas):
        return copy.deepcopy(_BY_NAME[name])
    if schema.get("default") is not None:
        return copy.deepcopy(schema["default"])
    for key in ("anyOf", "oneOf"):
        alternatives = schema.get(key)
        if isinstance(alternatives, list):
            usable = [a for a in alternatives if _resolve(a, schemas).get("type") != "null"]
            if usable:
                return example_of(usable[0], schemas, name, depth + 1)
            return None
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = example_of(part, schemas, name, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    return _typed_example(schema, schemas, depth)


def _typed_example(schema: dict[str, Any], schemas: dict[str, Any], depth: int) -> Any:
    """The example of a schema by its ``type`` (the first that is not null)."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        if props:
            return {k: example_of(v, schemas, k, depth + 1) for k, v in props.items()}
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            return {"key": example_of(extra, schemas, None, depth + 1)}
        return {}
    if kind == "array":
        items = schema.get("items")
        if not isinstance(items, dict):
            return []
        count = max(1, int(schema.get("minItems", 1)))
        return [example_of(items, schemas, None, depth + 1) for _ in range(count)]
    if kind == "string":
        fmt = schema.get("format")
        if isinstance(fmt, str) and fmt in _BY_FORMAT:
            return _BY_FORMAT[fmt]
        return _string_example(schema)
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return max(1.0, float(schema.get("minimum", 1.0)))
    if kind == "boolean":
        return True
    return None


# Tried in order when a string schema has a pattern "string" does not match.
_PATTERN_CANDIDATES = (
    "NG",
    "NGN",
    "EUR",
    "2026-11-27",
    "1250.00",
    "EMP-001",
    "1000",
    "fl_dev_your_key",
)


def _string_example(schema: dict[str, Any]) -> str:
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            compiled = re.compile(pattern)
        except re.error:
            compiled = None
        if compiled is not None and not compiled.search("string"):
            for candidate in _PATTERN_CANDIDATES:
                if compiled.search(candidate):
                    return candidate
    low = int(schema.get("minLength", 0))
    text = "string"
    if low > len(text):
        text = text + "x" * (low - len(text))
    high = schema.get("maxLength")
    if isinstance(high, int):
        text = text[:high]
    return text


def _fits(value: Any, schema: dict[str, Any], schemas: dict[str, Any]) -> bool:
    kinds: set[str] = set()
    for alt in [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]:
        kind = _resolve(alt, schemas).get("type")
        if isinstance(kind, str):
            kinds.add(kind)
        elif isinstance(kind, list):
            kinds.update(k for k in kind if isinstance(k, str))
    if not kinds:
        return True
    checks = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
        "boolean": isinstance(value, bool),
    }
    return any(checks.get(k, False) for k in kinds)


def add_request_example(op: dict[str, Any], schemas: dict[str, Any], exchange: bool) -> Any | None:
    """Give the JSON request body an example (``exchange``: the token exchange's own)."""
    media = op.get("requestBody", {}).get("content", {}).get("application/json")
    if media is None:
        return None
    if exchange:
        # No scope in the example: a pasted example should not narrow the playground's token.
        example: Any = {
            "apiKey": API_KEY_PLACEHOLDER,
            "apiSecret": "fl_sk_your_secret",
            "clientId": CLIENT_ID,
        }
    else:
        example = example_of(media.get("schema", {}), schemas)
    if example is not None and "example" not in media and "examples" not in media:
        media["example"] = example
    return media.get("example")


def add_response_examples(responses: dict[str, Any], schemas: dict[str, Any], path: str) -> None:
    for status, resp in responses.items():
        if not status.startswith("2"):
            continue
        media = resp.get("content", {}).get("application/json")
        if media is None or "example" in media or "examples" in media:
            continue
        schema = media.get("schema", {})
        if path.endswith("jwks.json"):
            media["example"] = {
                "keys": [
                    {
                        "kty": "EC",
                        "crv": "P-256",
                        "kid": "key_01JDV6T2M3K4N5P6Q7R8S9T0VW",
                        "alg": "ES256",
                        "use": "sig",
                        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
                    }
                ]
            }
            continue
        if schema:
            media["example"] = example_of(schema, schemas)
