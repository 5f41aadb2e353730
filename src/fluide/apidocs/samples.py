"""curl, Python and Node.js samples for each operation (``x-codeSamples``)."""

from __future__ import annotations

import json
import shlex
from typing import Any

from fluide.apidocs.examples import example_of
from fluide.apidocs.oauth import oauth_samples
from fluide.apidocs.security import CLIENT_ID
from fluide.catalog import Access


def code_samples(
    kind: Access, method: str, path: str, op: dict[str, Any], body: Any | None
) -> list[dict[str, str]]:
    """curl, Python and Node.js samples for one operation (``x-codeSamples``)."""
    if kind is Access.OAUTH_CLIENT:
        return oauth_samples(path)
    concrete = _concrete_path(path, op)
    headers = {
        p.get("name", "").lower() for p in op.get("parameters", []) if p.get("in") == "header"
    }
    node = node_sample(
        kind.value,
        method,
        concrete,
        body,
        answer=_answer(op),
        idempotent="idempotency-key" in headers,
    )
    return [
        {"lang": "Shell", "label": "curl", "source": _curl(kind, method, concrete, body)},
        {"lang": "Python", "label": "Python", "source": _python(kind, method, concrete, body)},
        {"lang": "JavaScript", "label": "Node.js", "source": node},
    ]


def _answer(op: dict[str, Any]) -> str:
    """What a success answers: json, binary (a file) or none (204)."""
    for status, response in op.get("responses", {}).items():
        if status.startswith("2"):
            content = response.get("content") or {}
            if not content:
                return "none"
            return "json" if any("json" in media for media in content) else "binary"
    return "json"


def _concrete_path(path: str, op: dict[str, Any]) -> str:
    out = path
    query: list[str] = []
    for param in op.get("parameters", []):
        name = param.get("name", "")
        where = param.get("in")
        if where == "path":
            out = out.replace("{" + name + "}", f"YOUR_{name.upper()}")
        elif where == "query" and param.get("required"):
            value = param.get("example", example_of(param.get("schema", {}), {}, name))
            query.append(f"{name}={value}")
    return out + ("?" + "&".join(query) if query else "")


def _curl(kind: Access, method: str, path: str, body: Any | None) -> str:
    lines = [f'curl -sS -X {method.upper()} "$FLUIDE_BASE_URL{path}"']
    if kind is Access.EXCHANGE:
        lines += [
            '-H "X-Fluide-Api-Key: $FLUIDE_API_KEY"',
            '-H "X-Fluide-Api-Secret: $FLUIDE_API_SECRET"',
            f'-H "X-Fluide-Client-Id: {CLIENT_ID}"',
        ]
        body = None  # the headers carry the credentials; a body is optional
    elif kind in (Access.PRODUCT, Access.DEVELOPER):
        lines += [
            '-H "Authorization: Bearer $FLUIDE_TOKEN"',
            '-H "X-Fluide-Api-Key: $FLUIDE_API_KEY"',
            f'-H "X-Fluide-Client-Id: {CLIENT_ID}"',
        ]
    elif kind is Access.ACCOUNT:
        lines.append('-H "Authorization: Bearer $FLUIDE_SESSION"')
    if body is not None:
        lines += [
            '-H "Content-Type: application/json"',
            f"-d {shlex.quote(json.dumps(body, separators=(',', ':')))}",
        ]
    return " \\\n  ".join(lines)


def _python(kind: Access, method: str, path: str, body: Any | None) -> str:
    json_arg = f", json={body!r}" if body is not None else ""
    if kind in (Access.PRODUCT, Access.DEVELOPER):
        return (
            "import os\n\n"
            "from fluide.client import FluideClient\n\n"
            "# The client exchanges the key and secret for a token, caches it and refreshes it\n"
            "# before it expires; the secret is only ever sent to the token endpoint.\n"
            "client = FluideClient(\n"
            '    base_url=os.environ["FLUIDE_BASE_URL"],\n'
            '    api_key=os.environ["FLUIDE_API_KEY"],\n'
            '    api_secret=os.environ["FLUIDE_API_SECRET"],\n'
            ")\n"
            f'result = client.request("{method.upper()}", "{path}"{json_arg})\n'
            "print(result)"
        )
    if kind is Access.EXCHANGE:
        return (
            "import os\n\n"
            "import httpx\n\n"
            "# fluide.client.FluideClient does this for you (and refreshes before exp).\n"
            "resp = httpx.post(\n"
            f'    os.environ["FLUIDE_BASE_URL"] + "{path}",\n'
            "    headers={\n"
            '        "X-Fluide-Api-Key": os.environ["FLUIDE_API_KEY"],\n'
            '        "X-Fluide-Api-Secret": os.environ["FLUIDE_API_SECRET"],\n'
            f'        "X-Fluide-Client-Id": "{CLIENT_ID}",\n'
            "    },\n"
            ")\n"
            "resp.raise_for_status()\n"
            'token = resp.json()["accessToken"]'
        )
    headers = ""
    if kind is Access.ACCOUNT:
        headers = ',\n    headers={"Authorization": "Bearer " + os.environ["FLUIDE_SESSION"]}'
    return (
        "import os\n\n"
        "import httpx\n\n"
        "resp = httpx.request(\n"
        f'    "{method.upper()}",\n'
        f'    os.environ["FLUIDE_BASE_URL"] + "{path}"{headers}'
        + (f",\n    json={body!r}" if body is not None else "")
        + ",\n)\n"
        "resp.raise_for_status()\n"
        "print(resp.json() if resp.content else resp.status_code)"
    )


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
    account or public (``catalog.Access`` values); ``answer``: json, binary or none."""
    if kind == "exchange":
        return (
            NODE_HEADER
            + NODE_EXCHANGE
            + "\nawait accessToken();\n"
            + ("console.log(`token cached until ${new Date(cached.refreshAt).toISOString()}`);")
        )
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
