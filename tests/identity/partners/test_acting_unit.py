"""``acting_caller`` as a pure function over a ``TenancyView``: its verdict for any view and
any headers equals the rule of DESIGN §3.7 written the slow way."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fluide.catalog import ALL_SCOPES
from fluide.identity.errors import CompanyNotFound, InsufficientScope, WorkspaceNotFound
from fluide.identity.partners.acting import acting_caller
from fluide.identity.principal import ACT_AS_SCOPE, Principal
from fluide.identity.tenancy import TenancyView
from fluide.kit.errors import AppError, ValidationFailed

TENANTS = ["ten_a", "ten_b"]
WORKSPACES = ["wsp_1", "wsp_2", "wsp_3"]
COMPANIES = ["cmp_1", "cmp_2", "cmp_3", "cmp_4"]
ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def principal(tenant: str, scopes: frozenset[str]) -> Principal:
    return Principal("jti", "cred", tenant, "fluide-developer", "key", scopes, 1, 0, 10**10)


views = st.tuples(
    st.dictionaries(st.sampled_from(WORKSPACES), st.sampled_from(TENANTS)),
    st.dictionaries(st.sampled_from(COMPANIES), st.sampled_from(WORKSPACES)),
)
header_values = st.one_of(
    st.sampled_from(WORKSPACES + COMPANIES + ["", "x" * 65, "wsp 1", "wsp_1\t"]),
    st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=70),
)
header_sets = st.lists(
    st.tuples(st.sampled_from([b"x-workspace-id", b"x-acting-company-id"]), header_values),
    max_size=3,
)


def slow_verdict(
    p: Principal, view: tuple[dict[str, str], dict[str, str]], sent: list[tuple[bytes, str]]
) -> str:
    """The rule, written plainly: shape, then scope, then membership."""
    ws = [v for n, v in sent if n == b"x-workspace-id"]
    co = [v for n, v in sent if n == b"x-acting-company-id"]
    if not ws and not co:
        return "own"
    if len(ws) != 1 or len(co) != 1 or not all(ID.fullmatch(v) for v in ws + co):
        return ValidationFailed.code
    if ACT_AS_SCOPE not in p.scopes:
        return InsufficientScope.code
    workspaces, companies = view
    if workspaces.get(ws[0]) != p.tenant_id:
        return WorkspaceNotFound.code
    if companies.get(co[0]) != ws[0]:
        return CompanyNotFound.code
    return f"acting {ws[0]} {co[0]}"


@given(
    view=views,
    sent=header_sets,
    tenant=st.sampled_from(TENANTS),
    partner=st.booleans(),
)
def test_the_check_agrees_with_the_rule(
    view: tuple[dict[str, str], dict[str, str]],
    sent: list[tuple[bytes, str]],
    tenant: str,
    partner: bool,
) -> None:
    tenancy = TenancyView()
    tenancy.workspaces, tenancy.companies = dict(view[0]), dict(view[1])
    scopes = frozenset((*ALL_SCOPES, ACT_AS_SCOPE) if partner else ALL_SCOPES)
    p = principal(tenant, scopes)
    raw = [(b"authorization", b"Bearer x"), *((n, v.encode("latin-1")) for n, v in sent)]
    message = ""
    try:
        got = acting_caller(p, raw, tenancy)
    except AppError as exc:
        verdict, message = exc.code, exc.message
    else:
        verdict = "own" if got is p else f"acting {got.workspace_id} {got.company_id}"
        assert got.tenant_id == p.tenant_id and got.credential_id == p.credential_id
        assert got.owner_id == (got.company_id or p.tenant_id)
    assert verdict == slow_verdict(p, view, sent)
    if verdict not in ("own",) and not verdict.startswith("acting"):
        assert all(v not in message for _, v in sent if len(v) > 3)


def test_an_empty_view_lets_nobody_act() -> None:
    p = principal("ten_a", frozenset({ACT_AS_SCOPE}))
    raw = [(b"x-workspace-id", b"wsp_1"), (b"x-acting-company-id", b"cmp_1")]
    with pytest.raises(WorkspaceNotFound):
        acting_caller(p, raw, TenancyView())


def test_the_principal_without_headers_is_the_same_object() -> None:
    p = principal("ten_a", frozenset({ACT_AS_SCOPE}))
    assert acting_caller(p, [(b"x-other", b"1")], TenancyView()) is p
    assert p.owner_id == "ten_a"


@given(
    view=views,
    sent=st.lists(
        st.tuples(
            st.sampled_from(
                [b"x-workspace-id", b"x-acting-company-id", b"X-Workspace-Id", b"x-workspace", b"x"]
            ),
            header_values,
        ),
        max_size=4,
    ),
    partner=st.booleans(),
)
def test_the_guard_skips_the_check_only_when_it_is_a_no_op(
    view: tuple[dict[str, str], dict[str, str]], sent: list[tuple[bytes, str]], partner: bool
) -> None:
    """The gateway runs ``acting_caller`` only when ``read_headers`` noticed an act-as header:
    whenever it did not, the check would have returned the principal untouched."""
    from fluide.identity.authn import read_headers

    tenancy = TenancyView()
    tenancy.workspaces, tenancy.companies = dict(view[0]), dict(view[1])
    p = principal("ten_a", frozenset((ACT_AS_SCOPE,) if partner else ()))
    raw = [(b"authorization", b"Bearer x"), *((n, v.encode("latin-1")) for n, v in sent)]
    try:
        no_op = acting_caller(p, raw, tenancy) is p
    except AppError:
        no_op = False
    if read_headers(raw).acting is None:
        assert no_op
