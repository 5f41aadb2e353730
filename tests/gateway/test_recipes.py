"""The deploy/ recipes point at the decision endpoint and keep the caller's credentials away from
the upstream. (nginx's runs for real in test_nginx.py; Traefik and Envoy are checked here.)"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from fluide.gateway.decide import DECIDE_PATH, DENIED_PATH
from fluide.gateway.proxy import NEVER_UPSTREAM

DEPLOY = Path(__file__).parents[2] / "deploy"
IDENTITY = {
    "x-fluide-tenant-id",
    "x-fluide-credential-id",
    "x-fluide-scopes",
    "x-fluide-context",
    "x-request-id",
}
CREDENTIALS = {"authorization", "x-fluide-api-key", "x-fluide-client-id", "x-fluide-api-secret"}


def lower(names: list[str]) -> set[str]:
    return {n.lower() for n in names}


def test_traefik_forward_auth() -> None:
    static = tomllib.loads((DEPLOY / "traefik" / "traefik.toml").read_text())
    assert static["providers"]["file"]["filename"] == "deploy/traefik/dynamic.toml"
    http = tomllib.loads((DEPLOY / "traefik" / "dynamic.toml").read_text())["http"]
    router = http["routers"]["orders"]
    assert router["middlewares"] == ["fluide-auth", "fluide-strip"]  # decide first
    assert router["service"] in http["services"]
    auth = http["middlewares"]["fluide-auth"]["forwardAuth"]
    assert auth["address"].endswith(DECIDE_PATH)
    assert auth["trustForwardHeader"] is False
    # What the decision needs (the secret too: check 1), and no X-Original-* a client sent.
    assert lower(auth["authRequestHeaders"]) >= CREDENTIALS
    assert not any(h.lower().startswith("x-original-") for h in auth["authRequestHeaders"])
    assert lower(auth["authResponseHeaders"]) == IDENTITY
    strip = http["middlewares"]["fluide-strip"]["headers"]["customRequestHeaders"]
    assert {k.lower() for k, v in strip.items() if v == ""} >= {
        "x-fluide-api-secret",
        "authorization",
    }


def _find(node: Any, key: str) -> list[Any]:
    found = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                found.append(v)
            found.extend(_find(v, key))
    elif isinstance(node, list):
        for item in node:
            found.extend(_find(item, key))
    return found


def _exact(patterns: dict[str, Any]) -> set[str]:
    return {p["exact"] for p in patterns["patterns"] if "exact" in p}


def test_envoy_ext_authz() -> None:
    config = json.loads((DEPLOY / "envoy" / "envoy.json").read_text())
    filters = _find(config, "http_filters")[0]
    names = [f["name"] for f in filters]
    assert names == ["envoy.filters.http.ext_authz", "envoy.filters.http.router"]
    authz = filters[0]["typed_config"]
    assert authz["failure_mode_allow"] is False  # Fluide down: denied, never let through
    service = authz["http_service"]
    assert service["path_prefix"] == DECIDE_PATH  # the request line is the original request
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    assert service["server_uri"]["cluster"] in clusters
    assert _exact(service["authorization_request"]["allowed_headers"]) >= CREDENTIALS
    response = service["authorization_response"]
    assert _exact(response["allowed_upstream_headers"]) == IDENTITY
    assert "www-authenticate" in _exact(response["allowed_client_headers"])
    hcm = _find(config, "route_config")[0]
    for route in _find(hcm, "routes")[0]:
        assert route["route"]["cluster"] in clusters
        assert set(route["request_headers_to_remove"]) >= {"x-fluide-api-secret", "authorization"}
    manager = _find(config, "normalize_path")
    assert manager == [True]


def test_nginx_recipe_wiring() -> None:
    text = (DEPLOY / "nginx" / "nginx.conf").read_text()
    assert f"proxy_pass http://fluide{DECIDE_PATH};" in text
    assert f"rewrite ^ {DENIED_PATH} break;" in text
    assert "proxy_set_header X-Original-URI $request_uri;" in text
    assert 'proxy_set_header X-Forwarded-Uri "";' in text
    guarded = re.findall(r"location /(\w+) \{(.*?)\n        \}", text, re.S)
    assert [name for name, _ in guarded] == ["orders"]
    for location in guarded:
        body = location[1]
        assert "auth_request /_fluide/decide;" in body, location[0]
        assert 'proxy_set_header X-Fluide-Api-Secret "";' in body
        for header in IDENTITY - {"x-request-id"}:
            assert re.search(rf"proxy_set_header {header} \$fluide_", body, re.I), header


def test_the_built_in_proxy_strips_the_same_headers() -> None:
    assert {h.encode() for h in CREDENTIALS | IDENTITY - {"x-request-id"}} <= NEVER_UPSTREAM
