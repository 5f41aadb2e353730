"""The whole developer journey in Debian's Chromium against a real uvicorn on loopback.

Sign up → code from the outbox → verify → key and one-time secret → exchange over HTTP →
reload (secret gone) → sign in → Try it → rotate "now" (old secret refused) → revoke
(exchange refused). Every page is screenshotted at 375 and 1280 px into artifacts/screenshots.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from fluide.app import create_app
from fluide.migrations import upgrade
from tests.conftest import CLIENT_ID, make_settings
from tests.dashboard.support import PASSWORD, latest_code

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)",
    ),
]


@dataclass
class LiveServer:
    base_url: str
    data_dir: Path


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A real uvicorn on a free loopback port, in a thread, on a fresh SQLite data dir."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'fluide.db'}"
    upgrade(url)
    app = create_app(make_settings(tmp_path, url, log_json=False, log_level="WARNING"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", tmp_path)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def exchange(base: str, key: str, secret: str) -> httpx.Response:
    return httpx.post(
        f"{base}/api/v1/authorize/token",
        headers={
            "X-Fluide-Api-Key": key,
            "X-Fluide-Api-Secret": secret,
            "X-Fluide-Client-Id": CLIENT_ID,
        },
        timeout=10,
    )


def seed_usage(db: Path, api_key: str) -> None:
    with sqlite3.connect(db) as conn:
        tenant_id, credential_id = conn.execute(
            "SELECT tenant_id, id FROM credentials WHERE api_key = ?", (api_key,)
        ).fetchone()
        today = datetime.now(UTC).date()
        rows = [
            (tenant_id, credential_id, (today - timedelta(days=i)).isoformat(), "", 40 + 7 * i)
            for i in range(14)
        ]
        rows.append((tenant_id, credential_id, today.isoformat(), "INSUFFICIENT_SCOPE", 4))
        conn.executemany(
            "INSERT INTO usage_daily (tenant_id, credential_id, day, code, count) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )


class Shots:
    """Screenshot the current page at 375 and 1280 px; check nothing overflows sideways."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.n = 0
        SHOTS.mkdir(parents=True, exist_ok=True)

    def __call__(self, name: str) -> None:
        self.n += 1
        for width, height in ((375, 812), (1280, 900)):
            self.page.set_viewport_size({"width": width, "height": height})
            overflow = self.page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{name} scrolls sideways at {width}px"
            path = SHOTS / f"{self.n:02d}-{name}-{width}.png"
            self.page.screenshot(path=str(path), full_page=True)


def test_developer_journey_in_a_real_browser(live_server: LiveServer) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    base, email = live_server.base_url, "grace@example.com"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
            # The playground is another part's page; a stub stands in so this test sees what
            # the dashboard hands over, whatever the reference page does with it.
            context.route(
                f"{base}/docs",
                lambda route: route.fulfill(
                    status=200, content_type="text/html", body="<!doctype html><p>playground</p>"
                ),
            )
            page = context.new_page()
            page.set_default_timeout(15_000)
            console_errors: list[str] = []
            page.on(
                "console",
                lambda msg: console_errors.append(msg.text) if msg.type == "error" else None,
            )
            shot = Shots(page)

            # Sign up.
            page.goto(f"{base}/connect/signup")
            shot("signup")
            page.get_by_label("Work email").fill(email)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_label("Company or team").fill("Grace Labs")
            page.get_by_role("button", name="Create account").click()
            page.wait_for_url("**/connect/verify?*")
            shot("verify")

            # Verify with the code from the outbox.
            code = latest_code(live_server.data_dir / "outbox", email)
            page.get_by_label("Verification code").fill(code)
            page.get_by_role("button", name="Verify", exact=True).click()
            page.wait_for_selector("#api-secret")
            key = page.locator("#api-key").inner_text().strip()
            secret = page.locator("#api-secret").inner_text().strip()
            assert key.startswith("fl_dev_") and secret.startswith("fl_sk_")
            page.bring_to_front()
            page.get_by_role("button", name="Copy secret").click()
            page.wait_for_selector('button[data-copy="api-secret"][data-copied]', state="attached")
            assert page.evaluate("navigator.clipboard.readText()") == secret
            shot("one-time-secret")

            # The key and secret work over plain HTTP.
            assert exchange(base, key, secret).status_code == 200

            # Reload: the secret is gone for good.
            page.reload()
            page.wait_for_load_state()
            assert secret not in page.content()
            assert "/connect/signin" in page.url

            # Sign in.
            shot("signin")
            page.get_by_label("Email").fill(email)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/connect/keys")
            assert key in page.content() and secret not in page.content()
            shot("keys")

            # Keyboard: the main controls are reachable with Tab.
            reached = set()
            page.locator("body").focus()
            for _ in range(60):
                page.keyboard.press("Tab")
                reached.add(page.evaluate("document.activeElement.textContent.trim()"))
            assert {"Try it", "Rotate secret", "Revoke", "Create credential"} <= reached

            # Try it: a short-lived token handed to the playground through sessionStorage.
            page.get_by_role("button", name="Try it").click()
            page.wait_for_url(f"{base}/docs")
            handed = json.loads(page.evaluate("sessionStorage.getItem('fluide.playground')"))
            assert handed["apiKey"] == key and handed["clientId"] == CLIENT_ID
            assert handed["bearer"] not in page.url
            health = httpx.get(
                f"{base}/api/v1/hr/health",
                headers={
                    "Authorization": f"Bearer {handed['bearer']}",
                    "X-Fluide-Api-Key": key,
                    "X-Fluide-Client-Id": CLIENT_ID,
                },
                timeout=10,
            )
            assert health.status_code == 200

            # Rotate "now": the old secret is refused at once.
            page.goto(f"{base}/connect/keys")
            page.get_by_role("link", name="Rotate secret").click()
            page.wait_for_url("**/rotate")
            shot("rotate")
            page.get_by_label("Now").check()
            page.get_by_role("button", name="Rotate secret").click()
            page.wait_for_selector("#api-secret")
            new_secret = page.locator("#api-secret").inner_text().strip()
            assert new_secret != secret
            shot("rotated-secret")
            refused = exchange(base, key, secret)
            assert refused.status_code == 401
            assert refused.json()["code"] == "DEVELOPER_KEYS_INVALID"
            assert exchange(base, key, new_secret).status_code == 200
            page.get_by_label("I have stored the secret").check()
            page.get_by_role("button", name="Back to API keys").click()
            page.wait_for_url("**/connect/keys*")
            assert new_secret not in page.content()

            # Revoke, after a confirmation page.
            page.get_by_role("link", name="Revoke").click()
            page.wait_for_url("**/revoke")
            shot("revoke-confirm")
            page.get_by_role("button", name="Yes, revoke this credential").click()
            page.wait_for_url("**/connect/keys?done=revoked")
            shot("revoked")
            refused = exchange(base, key, new_secret)
            assert refused.status_code == 401
            assert refused.json()["code"] == "CREDENTIAL_REVOKED"

            # A second credential with fewer scopes: its secret, too, is shown once.
            page.get_by_label("Name", exact=True).fill("Payroll sync")
            page.get_by_label("Environment").select_option("production")
            page.get_by_label("hr:write").uncheck()
            page.get_by_role("button", name="Create credential").click()
            page.wait_for_selector("#api-secret")
            key2 = page.locator("#api-key").inner_text().strip()
            secret2 = page.locator("#api-secret").inner_text().strip()
            shot("new-credential-secret")
            token = exchange(base, key2, secret2).json()
            assert "hr:write" not in token["scope"].split()
            page.reload()
            assert "/connect/keys" in page.url and secret2 not in page.content()
            assert key2 in page.content()

            # Usage (rows as the gateway's writer would leave them) and audit fit both widths.
            seed_usage(live_server.data_dir / "fluide.db", key)
            page.goto(f"{base}/connect/usage")
            assert page.locator("figure.chart rect[x]").count() == 14
            assert "INSUFFICIENT_SCOPE" in page.content()
            shot("usage")
            page.goto(f"{base}/connect/audit")
            assert "credential.revoke" in page.content()
            shot("audit")
            page.get_by_label("Outcome").select_option("success")
            page.get_by_role("button", name="Filter").click()
            page.wait_for_url("**/connect/audit?*outcome=success*")

            # Unknown pages and failures are friendly HTML, not JSON.
            page.goto(f"{base}/connect/no-such-page")
            assert page.get_by_role("heading", name="Page not found").is_visible()
            shot("not-found")

            # Sign out.
            page.goto(f"{base}/connect/keys")
            page.get_by_role("button", name="Sign out").click()
            page.wait_for_url("**/connect/signin")
            page.goto(f"{base}/connect/keys")
            assert "/connect/signin" in page.url
            # The strict CSP holds: no inline script or style was blocked on any page.
            assert not [m for m in console_errors if "Content Security Policy" in m]
        finally:
            browser.close()
    assert len(list(SHOTS.glob("*-375.png"))) >= 13
