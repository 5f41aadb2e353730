"""Every table, imported once so Alembic sees the whole schema."""

from fluide.gateway import models as gateway_models
from fluide.identity import models as identity_models
from fluide.kit.db import Base

metadata = Base.metadata

__all__ = ["gateway_models", "identity_models", "metadata"]
