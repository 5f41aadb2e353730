"""Example values generated from JSON Schemas, so every operation shows a request and a response."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

TIMESTAMP = "2026-11-27T12:00:00Z"
JWT_EXAMPLE = (
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImtleV8xIiwidHlwIjoiYXQrand0In0"
    ".eyJpc3MiOiJodHRwczovL2Nvbm5lY3QuZmx1aWRlLmxvY2FsIn0.c2lnbmF0dXJl"
)

# Field names whose example should look like the real thing.
_BY_NAME: dict[str, Any] = {
    "apiKey": "fl_dev_your_key",
    "apiSecret": "fl_sk_your_secret",
    "accessToken": JWT_EXAMPLE,
    "sessionToken": "fl_sess_your_session_token",
    "tokenType": "Bearer",
    "jti": "01JDV6T2M3K4N5P6Q7R8S9T0VW",
    "tenantId": "ten_01JDV6T2M3K4N5P6Q7R8S9T0VW",
    "accountId": "acc_01JDV6T2M3K4N5P6Q7R8S9T0VW",
    "credentialId": "cred_01JDV6T2M3K4N5P6Q7R8S9T0VW",
    "fluideClientId": "fluide-developer",
    "clientId": "fluide-developer",
    "scope": "hr:read hr:write payroll:read payroll:write pay:read pay:write books:read "
    "books:write utils:read",
    "scopes": ["hr:read", "payroll:read"],
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


# ---- Node.js code samples (x-codeSamples) ----------------------------------------------------

NODE_HEADER = (
    "// Node.js 18+ (built-in fetch). Save as sample.mjs, set FLUIDE_BASE_URL, FLUIDE_API_KEY\n"
    "// and FLUIDE_API_SECRET, then: node sample.mjs\n"
)
# Exchange once, keep the token until shortly before it expires (DESIGN §1, step 1). expiresIn
# is relative, so the caller's own clock decides, whatever the server's clock says.
NODE_EXCHANGE = """const base = process.env.FLUIDE_BASE_URL;
const apiKey = process.env.FLUIDE_API_KEY;
const clientId = "fluide-developer";

let cached = null;
async function accessToken() {
  if (cached && Date.now() < cached.refreshAt) return cached.token;
  const res = await fetch(`${base}/api/v1/authorize/token`, {
    method: "POST",
    headers: {
      "X-Fluide-Api-Key": apiKey,
      "X-Fluide-Api-Secret": process.env.FLUIDE_API_SECRET,
      "X-Fluide-Client-Id": clientId,
    },
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`${res.status} ${body.code}: ${body.message}`);
  // Refresh a minute before exp, by this machine's clock.
  cached = { token: body.accessToken, refreshAt: Date.now() + (body.expiresIn - 60) * 1000 };
  return cached.token;
}
"""


def node_sample(
    kind: str, method: str, path: str, body: Any | None, *, answer: str, idempotent: bool
) -> str:
    """A runnable Node.js sample for one operation. ``kind``: product, developer, exchange,
    account or public (``catalogue.Kind`` values); ``answer``: json, binary or none."""
    if kind == "exchange":
        return (
            NODE_HEADER
            + NODE_EXCHANGE
            + "\nawait accessToken();\n"
            + ("console.log(`token cached until ${new Date(cached.refreshAt).toISOString()}`);")
        )
    if kind == "oauth":
        return NODE_HEADER + _node_oauth(path)
    headers: list[str] = []
    prelude = "const base = process.env.FLUIDE_BASE_URL;\n"
    if kind in ("product", "developer"):
        prelude = NODE_EXCHANGE
        headers += [
            "Authorization: `Bearer ${await accessToken()}`",
            '"X-Fluide-Api-Key": apiKey',
            '"X-Fluide-Client-Id": clientId',
        ]
    elif kind == "account":
        headers.append("Authorization: `Bearer ${process.env.FLUIDE_SESSION}`")
    imports = ""
    if idempotent:
        imports = 'import { randomUUID } from "node:crypto";\n\n'
        headers.append('"Idempotency-Key": randomUUID()')
    if body is not None:
        headers.append('"Content-Type": "application/json"')
    return NODE_HEADER + imports + prelude + "\n" + _node_call(method, path, headers, body, answer)


def _node_oauth(path: str) -> str:
    """An OAuth endpoint: HTTP Basic client authentication and a form body (RFC 6749)."""
    form = (
        '{ grant_type: "client_credentials" }'
        if path == "/oauth/token"
        else "{ token: process.env.FLUIDE_TOKEN }"
    )
    return (
        "const base = process.env.FLUIDE_BASE_URL;\n"
        "const basic = Buffer.from(\n"
        "  `${process.env.FLUIDE_API_KEY}:${process.env.FLUIDE_API_SECRET}`,\n"
        ').toString("base64");\n\n'
        f"const resp = await fetch(`${{base}}{path}`, {{\n"
        '  method: "POST",\n'
        "  headers: { Authorization: `Basic ${basic}` },\n"
        f"  body: new URLSearchParams({form}),\n"
        "});\n"
        "console.log(resp.status, await resp.text());"
    )


def _node_call(method: str, path: str, headers: list[str], body: Any | None, answer: str) -> str:
    options = [f'  method: "{method.upper()}",']
    if headers:
        options.append("  headers: {\n" + "".join(f"    {h},\n" for h in headers) + "  },")
    if body is not None:
        literal = json.dumps(body, indent=2, ensure_ascii=False).replace("\n", "\n  ")
        options.append(f"  body: JSON.stringify({literal}),")
    show = {
        "json": "console.log(JSON.stringify(await res.json(), null, 2));",
        "binary": "const bytes = Buffer.from(await res.arrayBuffer());\n"
        'console.log(`${bytes.length} bytes of ${res.headers.get("content-type")}`);',
        "none": "console.log(res.status);",
    }[answer]
    return (
        f"const res = await fetch(`${{base}}{path}`, {{\n" + "\n".join(options) + "\n});\n"
        "if (!res.ok) {\n"
        "  const error = await res.json();\n"
        "  throw new Error(`${res.status} ${error.code}: ${error.message}`);\n"
        "}\n" + show
    )
