"""What several resources share."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from typing_extensions import Unpack

from fluide.client._call import RequestOptions, model
from fluide.client._resource import Spec
from fluide.client.models import Health

Amount = Decimal | str | int
"""An amount as you may pass it: ``Decimal("1500.00")``, ``"1500.00"`` or ``1500`` (not a
``float``)."""


def health_spec(resource: Any, **options: Unpack[RequestOptions]) -> Spec[Health]:
    """The product API's health and its database status."""
    return Spec(model(Health), options=options)
