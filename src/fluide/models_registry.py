"""Every table, imported once so Alembic sees the whole schema."""

from fluide.gateway import models as gateway_models
from fluide.identity import models as identity_models
from fluide.kit import idempotency as idempotency_models
from fluide.kit.db import Base
from fluide.products.books import models as books_models
from fluide.products.hr import models as hr_models
from fluide.products.pay import models as pay_models
from fluide.products.payroll import models as payroll_models

metadata = Base.metadata

__all__ = [
    "books_models",
    "gateway_models",
    "hr_models",
    "idempotency_models",
    "identity_models",
    "metadata",
    "pay_models",
    "payroll_models",
]
