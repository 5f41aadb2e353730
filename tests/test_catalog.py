"""The catalogue is the one list of products and scopes, and every product route declares its
scopes from it."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from hypothesis import given
from hypothesis import strategies as st

from fluide import catalog
from fluide.app import App
from fluide.catalog import ALL_SCOPES, PRODUCT_PREFIXES, PRODUCTS, Access, product_of
from fluide.gateway import guarded_router, require_scope
from fluide.gateway.routes import is_product_path, required_scopes, walk
from fluide.identity.credentials import parse_scopes
from fluide.kit.errors import ValidationFailed


def test_every_scope_belongs_to_one_product_and_each_product_can_be_read() -> None:
    assert len(set(ALL_SCOPES)) == len(ALL_SCOPES)
    assert tuple(s for p in PRODUCTS for s in p.scopes) == ALL_SCOPES
    for p in PRODUCTS:
        assert p.read_scope in p.scopes
        assert all(s.split(":")[0] == p.name for s in p.scopes)
        assert p.prefix == f"/api/v1/{p.name}"
    assert len({p.name for p in PRODUCTS}) == len({p.title for p in PRODUCTS}) == len(PRODUCTS)
    assert set(catalog.EXAMPLE_SCOPES) <= set(ALL_SCOPES)


def test_a_credential_gets_every_catalogued_scope_by_default_and_no_other() -> None:
    assert parse_scopes(None).split() == list(ALL_SCOPES)
    with pytest.raises(ValidationFailed):
        parse_scopes(["crm:read"])


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/pay", "pay"),
        ("/api/v1/pay/wallets", "pay"),
        ("/api/v1/payroll/runs", "payroll"),
        ("/api/v1/payrollx", None),
        ("/api/v1/hrx/health", None),
        ("/api/v1/auth/signin", None),
        ("/api/v2/hr/health", None),
        ("", None),
    ],
)
def test_product_of_matches_whole_segments(path: str, name: str | None) -> None:
    found = product_of(path)
    assert (found.name if found else None) == name


@given(path=st.text(alphabet="/apiv1hrpaybooksutilsx", max_size=30))
def test_product_of_agrees_with_the_segment_rule(path: str) -> None:
    expected = [
        p for p in PRODUCTS if path.split("/")[:4] == ["", "api", "v1", p.name] and path != ""
    ]
    found = product_of(path)
    assert found == (expected[0] if expected else None)
    if found is not None:  # everything a product owns is guarded by the gateway's prefix rule
        assert is_product_path(path)


def test_unknown_products_and_scopes_are_refused_when_declared() -> None:
    with pytest.raises(ValueError, match="unknown product"):
        catalog.product("crm")
    for bad in ("crm:read", "hr:admin", "HR:READ", "hr:read "):
        with pytest.raises(ValueError, match="no such scope"):
            require_scope(bad)
    with pytest.raises(ValueError, match="no such scope"):
        require_scope("hr:read", "payroll:delete")


def test_guarded_routers_take_prefix_and_tag_from_the_catalogue() -> None:
    for p in PRODUCTS:
        router = guarded_router(p.name)
        assert router.prefix == p.prefix and router.tags == [p.title]
    assert tuple(p.prefix for p in PRODUCTS) == PRODUCT_PREFIXES


def test_every_route_under_a_product_prefix_declares_catalogued_scopes(app: App) -> None:
    seen: set[str] = set()
    for info in walk(app.fastapi.routes):
        if not is_product_path(info.path):
            continue
        assert isinstance(info.route, APIRoute), info.path
        scopes = required_scopes(info)
        owner = product_of(info.path)
        assert owner is not None, info.path  # nothing lives beside the products' prefixes
        assert scopes and set(scopes) <= set(ALL_SCOPES), (info.path, scopes)
        assert scopes[0] in owner.scopes, (info.path, scopes)  # its own product's first
        seen.add(owner.name)
    assert seen == {p.name for p in PRODUCTS}  # each product's health check at least


def test_access_marks_are_read_back_and_ignore_foreign_attributes() -> None:
    @catalog.declares(Access.ACCOUNT)
    def marked() -> None: ...

    def forged() -> None: ...

    forged.fluide_access = "account"  # type: ignore[attr-defined]
    assert catalog.declared_access(marked) is Access.ACCOUNT
    assert catalog.declared_access(forged) is None
    assert catalog.declared_access(None) is None
    assert catalog.titles("and") == "HR, Payroll, Pay, Books and Utils"
