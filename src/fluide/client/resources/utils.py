"""``client.utils``: reference data and documents."""

from __future__ import annotations

from typing_extensions import Unpack

from fluide.client._call import NOT_GIVEN, NotGiven, RequestOptions, content, query
from fluide.client._pagination import PageData, page_of
from fluide.client._resource import ModeT, Resource, Spec, list_route, operation, route
from fluide.client.models import Country, Currency
from fluide.client.resources._common import health_spec


class Utils(Resource[ModeT]):
    health = operation("GET", "/api/v1/utils/health", health_spec, dedupes=False)

    @list_route("/api/v1/utils/countries")
    def countries(
        self,
        *,
        q: str | NotGiven = NOT_GIVEN,
        page: int | NotGiven = NOT_GIVEN,
        limit: int | NotGiven = NOT_GIVEN,
        **options: Unpack[RequestOptions],
    ) -> Spec[PageData[Country]]:
        """Countries, their currency, and whether statutory payroll rules ship for them."""
        return Spec(page_of(Country), params=query(q=q, page=page, limit=limit), options=options)

    @list_route("/api/v1/utils/currencies")
    def currencies(
        self,
        *,
        q: str | NotGiven = NOT_GIVEN,
        page: int | NotGiven = NOT_GIVEN,
        limit: int | NotGiven = NOT_GIVEN,
        **options: Unpack[RequestOptions],
    ) -> Spec[PageData[Currency]]:
        """ISO 4217 currencies with their minor units."""
        return Spec(page_of(Currency), params=query(q=q, page=page, limit=limit), options=options)

    @route("GET", "/api/v1/utils/documents/payslips/{payslip_id}.pdf")
    def payslip_pdf(self, payslip_id: str, **options: Unpack[RequestOptions]) -> Spec[bytes]:
        """A payslip as PDF bytes."""
        headers = {"Accept": "application/pdf", **(options.get("extra_headers") or {})}
        return Spec(
            content, path={"payslip_id": payslip_id}, options={**options, "extra_headers": headers}
        )
