"""The partners service as a request dependency (its routes', and the dashboard's through
``identity.deps``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from fluide.identity.partners.service import Partners
from fluide.identity.request import identity_part


async def _partners(request: Request) -> Partners:
    partners: Partners = identity_part(request).partners
    return partners


PartnersDep = Annotated[Partners, Depends(_partners)]
