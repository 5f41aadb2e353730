"""Utils routes: reference data and documents."""

from __future__ import annotations

from fastapi import Header, Response

from fluide.apidocs import error_responses
from fluide.gateway import CurrentPrincipal, guarded_router, require_scope
from fluide.kit.money import CURRENCIES
from fluide.kit.pagination import Page, PageDep
from fluide.kit.uow import DbSession
from fluide.products.payroll import service as payroll
from fluide.products.payroll.rules import DEFAULT_RULES
from fluide.products.payroll.service import PayslipNotFound
from fluide.products.utils.pdf import payslip_pdf
from fluide.products.utils.schemas import CountryOut, CurrencyOut

router = guarded_router("utils")
READ = [require_scope("utils:read")]
# A payslip PDF shows payroll figures: reading it also needs Payroll's read scope (DESIGN §4).
READ_PAYSLIPS = [require_scope("utils:read", "payroll:read")]

COUNTRIES: tuple[tuple[str, str, str], ...] = (
    ("GB", "United Kingdom", "GBP"),
    ("GH", "Ghana", "GHS"),
    ("JP", "Japan", "JPY"),
    ("KE", "Kenya", "KES"),
    ("NG", "Nigeria", "NGN"),
    ("SN", "Senegal", "XOF"),
    ("US", "United States", "USD"),
    ("ZA", "South Africa", "ZAR"),
    ("BH", "Bahrain", "BHD"),
    ("FR", "France", "EUR"),
)


def _filter(text: str, q: str | None) -> bool:
    return q is None or q.lower() in text.lower()


@router.get(
    "/countries", operation_id="utils.countries", response_model=Page[CountryOut], dependencies=READ
)
async def countries(params: PageDep) -> Page[CountryOut]:
    """Countries, their currency, and whether statutory payroll rules ship for them."""
    with_rules = {r.country_code for r in DEFAULT_RULES}
    items = [
        CountryOut(code=c, name=n, currency=cur, statutory_rules=c in with_rules)
        for c, n, cur in sorted(COUNTRIES)
        if _filter(f"{c} {n}", params.q)
    ]
    return Page.of(items[params.offset : params.offset + params.limit], len(items), params)


@router.get(
    "/currencies",
    operation_id="utils.currencies",
    response_model=Page[CurrencyOut],
    dependencies=READ,
)
async def currencies(params: PageDep) -> Page[CurrencyOut]:
    """ISO 4217 currencies with their minor units."""
    items = [
        CurrencyOut(code=c.code, name=c.name, minor_units=c.minor_units)
        for c in sorted(CURRENCIES.values(), key=lambda c: c.code)
        if _filter(f"{c.code} {c.name}", params.q)
    ]
    return Page.of(items[params.offset : params.offset + params.limit], len(items), params)


# The same bytes under either media type: application/pdf by default, application/octet-stream
# for a client that asks for it (and not for PDF), which is the binary type code generators know.
_BINARY = {"type": "string", "format": "binary"}
PDF_CONTENT = {
    "application/pdf": {"schema": _BINARY},
    "application/octet-stream": {"schema": _BINARY},
}


@router.get(
    "/documents/payslips/{payslip_id}.pdf",
    operation_id="utils.payslip_pdf",
    response_class=Response,
    responses={200: {"content": PDF_CONTENT}, **error_responses(PayslipNotFound)},
    dependencies=READ_PAYSLIPS,
)
async def payslip_document(
    payslip_id: str,
    principal: CurrentPrincipal,
    session: DbSession,
    accept: str | None = Header(None, include_in_schema=False),
) -> Response:
    """A payslip as a PDF (the owning tenant only)."""
    doc = await payroll.payslip_document(session, principal.owner_id, payslip_id)
    return Response(
        payslip_pdf(doc),
        media_type=_pdf_media_type(accept),
        headers={"Content-Disposition": f'inline; filename="payslip-{payslip_id}.pdf"'},
    )


def _pdf_media_type(accept: str | None) -> str:
    wanted = {part.split(";")[0].strip().lower() for part in (accept or "").split(",")}
    if "application/octet-stream" in wanted and "application/pdf" not in wanted:
        return "application/octet-stream"
    return "application/pdf"
