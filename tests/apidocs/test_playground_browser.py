"""The seed flow in a real browser: Debian's Chromium driven by Playwright against ``fluide serve``.

Offline by construction: every request the page makes is checked to stay on the server.
Screenshots land in ``artifacts/screenshots/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.apidocs.conftest import LiveServer, artifacts_dir, chromium_path
from tests.products.helpers import employee

pytestmark = pytest.mark.browser

CHROMIUM = chromium_path()
if CHROMIUM is None:
    pytest.skip(
        "Chromium is not installed (apt-get install -y chromium); the browser test needs it",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")

# Swagger UI's element id is "operations-<tag>-<operationId>" passed through CSS.escape, so the
# operationIds' dots arrive as "\." in the id: matched here as an attribute value.
EXCHANGE_OP = r'[id="operations-Authorize-authorize\\.token"]'
HR_HEALTH_OP = r'[id="operations-HR-hr\\.health"]'
EMPLOYEES_OP = r'[id="operations-HR-hr\\.employees\\.list"]'
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield b
        finally:
            b.close()


class Docs:
    """One fresh browser context on ``/docs``, recording anything that goes wrong."""

    def __init__(self, browser: Any, server: LiveServer) -> None:
        self.server = server
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.offsite: list[str] = []
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("console", self._on_console)
        self.page.on("request", self._on_request)

    def _on_console(self, message: Any) -> None:
        # 4xx answers are the point of some steps; Chromium logs each one as an error.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.problems.append(f"console: {message.text}")

    def _on_request(self, request: Any) -> None:
        if not request.url.startswith((self.server.base_url, "data:")):
            self.offsite.append(request.url)

    def open(self) -> None:
        self.page.goto(f"{self.server.base_url}/docs")
        self.page.wait_for_selector(HR_HEALTH_OP, timeout=20_000)

    def expand(self, op: str) -> Any:
        block = self.page.locator(op)
        if not block.locator(".opblock-body").count():
            block.locator(".opblock-summary-control").click()
        block.locator(".opblock-body").wait_for()
        return block

    def execute(self, block: Any) -> tuple[int, str]:
        block.locator("button.execute").click()
        row = block.locator(".live-responses-table tbody tr.response").first
        row.wait_for(timeout=15_000)
        status = int(row.locator("td.response-col_status").inner_text().strip())
        body = row.locator("td.response-col_description pre").first.inner_text()
        return status, body

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(artifacts_dir() / f"{name}.png"), full_page=False)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def docs(browser: Any, live_server: LiveServer) -> Iterator[Docs]:
    d = Docs(browser, live_server)
    try:
        yield d
    finally:
        d.close()
    assert d.offsite == [], "the playground must work offline"
    assert d.problems == []


def test_product_call_without_authorize_is_401(docs: Docs) -> None:
    docs.open()
    block = docs.expand(HR_HEALTH_OP)
    status, body = docs.execute(block)
    block.scroll_into_view_if_needed()
    docs.shot("01-hr-health-without-authorize")
    assert status == 401
    assert json.loads(body)["message"] == "Authorization field missing"


def test_exchange_then_authorize_then_product_call(docs: Docs, live_server: LiveServer) -> None:
    docs.open()
    page = docs.page
    docs.shot("02-docs-loaded")

    # 1. The token exchange from its Try-it, with the key and secret.
    exchange = docs.expand(EXCHANGE_OP)
    credentials = {
        "apiKey": live_server.api_key,
        "apiSecret": live_server.api_secret,
        "clientId": "fluide-developer",
    }
    exchange.locator("textarea.body-param__text").fill(json.dumps(credentials))
    status, body = docs.execute(exchange)
    assert status == 200, body
    token = json.loads(body)["accessToken"]
    assert token.count(".") == 2
    exchange.locator(".live-responses-table").scroll_into_view_if_needed()
    docs.shot("03-token-exchange-200")

    # 2. Authorize on the HR operation: three fields, two pre-filled.
    hr = docs.expand(HR_HEALTH_OP)
    hr.locator(".authorization__btn").click()
    modal = page.locator(".modal-ux")
    modal.wait_for()
    assert modal.locator("form").count() == 1
    key_input = modal.locator("#fluide-auth-fluideApiKey")
    client_input = modal.locator("#fluide-auth-fluideClientId")
    assert key_input.input_value() == "fl_dev_your_key"
    assert client_input.input_value() == "fluide-developer"
    modal.locator("#auth-bearer-value").fill(token)
    key_input.fill(live_server.api_key)
    docs.shot("04-authorize-dialog-filled")
    # The API-key form's button (the dialog also offers OAuth 2.0 client credentials, issue 16).
    modal.get_by_role("button", name="Apply credentials", exact=True).click()
    assert modal.locator("button.btn-done").count() >= 1  # one per scheme group
    modal.locator("h6", has_text="Authorized").first.wait_for()
    modal.locator("button.btn-done").first.click()

    # 3. Send GET /api/v1/hr/health.
    status, body = docs.execute(hr)
    hr.locator(".live-responses-table").scroll_into_view_if_needed()
    docs.shot("05-hr-health-200")
    assert status == 200, body
    assert json.loads(body)["service"] == "fluide-hr"

    # 4. The secret, authorized for the exchange, is neither persisted nor sent to products.
    page.locator(".auth-wrapper button.authorize").click()
    modal.wait_for()
    modal.locator("#fluide-auth-fluideApiSecret").fill(live_server.api_secret)
    # The API-key form's button (the dialog also offers OAuth 2.0 client credentials, issue 16).
    modal.get_by_role("button", name="Apply credentials", exact=True).click()
    modal.locator("button.btn-done").first.click()
    stored = page.evaluate("window.localStorage.getItem('authorized')") or ""
    assert live_server.api_secret not in stored
    assert "bearer" in json.loads(stored)
    hr.locator("button.btn-clear").click()
    status, body = docs.execute(hr)
    assert status == 200, body  # a product route that saw the secret would answer 400


def test_dashboard_handoff_preauthorizes_and_is_consumed(
    docs: Docs, live_server: LiveServer
) -> None:
    resp = httpx.post(
        f"{live_server.base_url}/api/v1/authorize/token",
        headers={
            "X-Fluide-Api-Key": live_server.api_key,
            "X-Fluide-Api-Secret": live_server.api_secret,
            "X-Fluide-Client-Id": "fluide-developer",
        },
    )
    assert resp.status_code == 200
    handoff = {
        "bearer": resp.json()["accessToken"],
        "apiKey": live_server.api_key,
        "clientId": "fluide-developer",
    }
    docs.open()
    docs.page.evaluate(
        "h => window.sessionStorage.setItem('fluide.playground', h)", json.dumps(handoff)
    )
    docs.page.reload()
    docs.page.wait_for_selector(HR_HEALTH_OP)
    status, body = docs.execute(docs.expand(HR_HEALTH_OP))
    docs.shot("06-dashboard-handoff-200")
    assert status == 200, body
    assert docs.page.evaluate("window.sessionStorage.getItem('fluide.playground')") is None


def _product_headers(server: LiveServer) -> dict[str, str]:
    resp = httpx.post(
        f"{server.base_url}/api/v1/authorize/token",
        headers={
            "X-Fluide-Api-Key": server.api_key,
            "X-Fluide-Api-Secret": server.api_secret,
            "X-Fluide-Client-Id": "fluide-developer",
        },
    )
    assert resp.status_code == 200, resp.text
    return {
        "Authorization": f"Bearer {resp.json()['accessToken']}",
        "X-Fluide-Api-Key": server.api_key,
        "X-Fluide-Client-Id": "fluide-developer",
    }


def _hire(server: LiveServer, h: dict[str, str], code: str, acting: dict[str, str]) -> None:
    resp = httpx.post(
        f"{server.base_url}/api/v1/hr/employees", json=employee(code), headers={**h, **acting}
    )
    assert resp.status_code == 201, resp.text


def _codes(docs: Docs, op: Any) -> list[str]:
    status, body = docs.execute(op)
    assert status == 200, body
    return [e["employeeCode"] for e in json.loads(body)["items"]]


def test_a_partner_picks_a_company_and_the_playground_acts_for_it(
    docs: Docs, live_server: LiveServer
) -> None:
    """Dashboard (sign in, workspace and company made with the forms) → the company's "Try
    it" → the playground's call carries both headers and lists that company's data only."""
    page, base = docs.page, live_server.base_url
    page.goto(f"{base}/connect/signin")
    page.locator("#email").fill(live_server.email)
    page.locator("#password").fill(live_server.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/connect/keys")
    page.get_by_role("link", name="Workspaces").click()
    page.locator("#ws-name").fill("Browser clients")
    page.get_by_role("button", name="Create workspace").click()
    page.wait_for_url("**/connect/workspaces/wsp_*")
    wid = page.url.split("/connect/workspaces/")[1].split("?")[0]
    form = page.locator("#company-create")
    form.locator("#co-name").fill("Alpha Ltd")
    form.locator("#co-country").fill("ng")
    form.locator("#co-currency").fill("ngn")
    form.get_by_role("button", name="Add company").click()
    page.get_by_role("link", name="Alpha Ltd").click()
    page.wait_for_url("**/companies/cmp_*")
    alpha = page.url.rsplit("/", 1)[1]
    docs.shot("07-company-page")

    h = _product_headers(live_server)
    other = httpx.post(
        f"{base}/api/v1/workspaces/{wid}/companies",
        json={"name": "Beta Ltd", "countryCode": "NG", "currency": "NGN"},
        headers=h,
    ).json()["id"]
    _hire(live_server, h, "ALPHA1", {"X-Workspace-Id": wid, "X-Acting-Company-Id": alpha})
    _hire(live_server, h, "BETA1", {"X-Workspace-Id": wid, "X-Acting-Company-Id": other})

    sent: list[dict[str, str]] = []
    page.on(
        "request",
        lambda r: (
            sent.append(r.headers) if r.url.startswith(f"{base}/api/v1/hr/employees") else None
        ),
    )
    page.locator("#company-try").get_by_role("button", name="Try it").click()
    page.wait_for_url(f"{base}/docs")
    page.wait_for_selector(HR_HEALTH_OP, timeout=20_000)
    bar = page.locator("#fluide-acting")
    assert "Acting for Alpha Ltd" in bar.inner_text() and alpha in bar.inner_text()
    docs.shot("08-playground-acting-bar")
    employees = docs.expand(EMPLOYEES_OP)
    assert _codes(docs, employees) == ["ALPHA1"]
    employees.locator(".live-responses-table").scroll_into_view_if_needed()
    docs.shot("09-playground-acting-for-a-company")
    assert sent[-1]["x-workspace-id"] == wid and sent[-1]["x-acting-company-id"] == alpha
    # The pick survives a reload of the tab, and "Stop acting" returns to the partner's own.
    page.reload()
    page.wait_for_selector(HR_HEALTH_OP, timeout=20_000)
    assert _codes(docs, docs.expand(EMPLOYEES_OP)) == ["ALPHA1"]
    page.get_by_role("button", name="Stop acting").click()
    assert page.locator("#fluide-acting").count() == 0
    assert _codes(docs, docs.expand(EMPLOYEES_OP)) == []
    assert "x-acting-company-id" not in sent[-1]


def test_docs_page_sends_a_strict_csp(live_server: LiveServer) -> None:
    resp = httpx.get(f"{live_server.base_url}/docs")
    csp = resp.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe" not in csp
