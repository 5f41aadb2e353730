"""The document's part for the routes that declare OAuth client authentication
(``Access.OAUTH_CLIENT``: ``/oauth/token``, ``/oauth/introspect``, ``/oauth/revoke``).

They answer in OAuth's format, not the Fluide envelope: their routes declare their form bodies
and RFC 6749 §5.2 error bodies themselves (``identity.oauth``); this adds what every such answer
carries (``Cache-Control: no-store``), the envelope only where the service's edge answers before
the endpoint runs (500), and code samples that use the standard wire format.
"""

from __future__ import annotations

from typing import Any

from fluide.apidocs import codes
from fluide.apidocs.responses import add_error_responses

OAUTH_CLIENT_SCHEME: dict[str, Any] = {
    "type": "http",
    "scheme": "basic",
    "description": "OAuth 2.0 client authentication (`client_secret_basic`, RFC 6749 §2.3.1) "
    "for `/oauth/token`, `/oauth/introspect` and `/oauth/revoke`: your API key as the user name "
    "and your API secret as the password. `client_secret_post` works too: `client_id` and "
    "`client_secret` in the form body instead (never both methods in one request).",
}

NO_STORE: dict[str, Any] = {
    "description": "`no-store` on every answer in OAuth's format (RFC 6749 §5.1), with "
    "`Pragma: no-cache`.",
    "schema": {"type": "string", "const": "no-store"},
}


def oauth_responses(op: dict[str, Any]) -> dict[str, Any]:
    """The operation's responses: its declared ones, each with ``Cache-Control``, and the 500
    envelope any route may answer; sorted by status."""
    responses: dict[str, Any] = op.setdefault("responses", {})
    responses.pop("422", None)  # the endpoints read their form themselves
    for response in responses.values():
        response.setdefault("headers", {})["Cache-Control"] = NO_STORE
    add_error_responses(responses, [codes.INTERNAL])
    op["responses"] = ordered = dict(sorted(responses.items()))
    return ordered


def _form(path: str) -> list[tuple[str, str]]:
    """The form fields a sample sends (the client authenticates with HTTP Basic)."""
    if path.endswith("/token"):
        return [("grant_type", "client_credentials"), ("scope", "hr:read payroll:read")]
    return [("token", "$FLUIDE_TOKEN"), ("token_type_hint", "access_token")]


def oauth_samples(path: str) -> list[dict[str, str]]:
    """curl, Python (httpx) and Node.js (fetch) samples for one OAuth endpoint."""
    fields = _form(path)
    return [
        {"lang": "Shell", "label": "curl", "source": _curl(path, fields)},
        {"lang": "Python", "label": "Python", "source": _python(path, fields)},
        {"lang": "JavaScript", "label": "Node.js", "source": _node(path, fields)},
    ]


def _curl(path: str, fields: list[tuple[str, str]]) -> str:
    lines = [
        f'curl -sS -X POST "$FLUIDE_BASE_URL{path}"',
        '-u "$FLUIDE_API_KEY:$FLUIDE_API_SECRET"',
        *(
            f'-d {name}="{value}"' if " " in value or "$" in value else f"-d {name}={value}"
            for name, value in fields
        ),
    ]
    return " \\\n  ".join(lines)


def _python_value(value: str) -> str:
    if value.startswith("$"):
        return f'os.environ["{value[1:]}"]'
    return f'"{value}"'


def _python(path: str, fields: list[tuple[str, str]]) -> str:
    data = "".join(f'        "{name}": {_python_value(value)},\n' for name, value in fields)
    if path.endswith("/token"):
        show = 'token = resp.json()["access_token"]'
    elif path.endswith("/introspect"):
        show = 'print(resp.json())  # {"active": false} for any token not active in your tenant'
    else:
        show = "print(resp.status_code)  # 200, whether or not the token was yours to revoke"
    return (
        "import os\n\n"
        "import httpx\n\n"
        "# client_secret_basic; Authlib's OAuth2Client does the same (docs/oauth.md).\n"
        "resp = httpx.post(\n"
        f'    os.environ["FLUIDE_BASE_URL"] + "{path}",\n'
        '    auth=(os.environ["FLUIDE_API_KEY"], os.environ["FLUIDE_API_SECRET"]),\n'
        "    data={\n" + data + "    },\n"
        ")\n"
        "if resp.status_code != 200:\n"
        "    error = resp.json()\n"
        "    raise RuntimeError(f\"{resp.status_code} {error['error']}: "
        "{error['error_description']}\")\n" + show
    )


def _node_value(value: str) -> str:
    return f"process.env.{value[1:]}" if value.startswith("$") else f'"{value}"'


def _node(path: str, fields: list[tuple[str, str]]) -> str:
    body = "".join(f"  {name}: {_node_value(value)},\n" for name, value in fields)
    show = (
        "console.log(res.status);"
        if path.endswith("/revoke")
        else ("console.log(JSON.stringify(await res.json(), null, 2));")
    )
    return (
        "// Node.js 18+ (built-in fetch). Save as sample.mjs, set FLUIDE_BASE_URL, FLUIDE_API_KEY\n"
        "// and FLUIDE_API_SECRET, then: node sample.mjs\n"
        "const base = process.env.FLUIDE_BASE_URL;\n"
        "const basic = Buffer.from(\n"
        "  `${process.env.FLUIDE_API_KEY}:${process.env.FLUIDE_API_SECRET}`,\n"
        ').toString("base64");\n'
        "const form = new URLSearchParams({\n" + body + "});\n"
        f"const res = await fetch(`${{base}}{path}`, {{\n"
        '  method: "POST",\n'
        "  headers: { Authorization: `Basic ${basic}` },\n"
        "  body: form, // application/x-www-form-urlencoded\n"
        "});\n"
        "if (!res.ok) {\n"
        "  const error = await res.json();\n"
        "  throw new Error(`${res.status} ${error.error}: ${error.error_description}`);\n"
        "}\n" + show
    )
