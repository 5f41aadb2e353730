"""Utils wire shapes."""

from __future__ import annotations

from fluide.kit.schema import CamelModel


class CountryOut(CamelModel):
    code: str
    name: str
    currency: str
    statutory_rules: bool


class CurrencyOut(CamelModel):
    code: str
    name: str
    minor_units: int
