"""Statutory rules as versioned data: per country and effective date. No I/O.

Every shipped table is ILLUSTRATIVE: simplified from the named public source (reliefs,
allowance tapers, caps and social-security contributions beyond one pension rate are left out).
A tenant replaces them with its own tables through ``PUT /api/v1/payroll/settings``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Band:
    """Income up to ``up_to`` (annual, cumulative; None = no ceiling) is taxed at ``rate``."""

    up_to: Decimal | None
    rate: Decimal


@dataclass(frozen=True, slots=True)
class StatutoryRules:
    country_code: str
    effective_from: date
    currency: str
    bands: tuple[Band, ...]
    pension_rate: Decimal  # employee contribution, share of gross
    pension_tax_deductible: bool
    source: str


class RulesError(ValueError):
    pass


def _bands(*pairs: tuple[str | None, str]) -> tuple[Band, ...]:
    return tuple(Band(Decimal(u) if u is not None else None, Decimal(r)) for u, r in pairs)


DEFAULT_RULES: tuple[StatutoryRules, ...] = (
    StatutoryRules(
        country_code="NG",
        effective_from=date(2011, 1, 1),
        currency="NGN",
        bands=_bands(
            ("300000", "0.07"),
            ("600000", "0.11"),
            ("1100000", "0.15"),
            ("1600000", "0.19"),
            ("3200000", "0.21"),
            (None, "0.24"),
        ),
        pension_rate=Decimal("0.08"),
        pension_tax_deductible=True,
        source="ILLUSTRATIVE: bands of Nigeria's Personal Income Tax Act (as amended 2011), "
        "Sixth Schedule; employee pension 8% per Pension Reform Act 2014. Consolidated relief "
        "allowance and other reliefs omitted.",
    ),
    StatutoryRules(
        country_code="GB",
        effective_from=date(2025, 4, 6),
        currency="GBP",
        bands=_bands(
            ("12570", "0"),
            ("50270", "0.20"),
            ("125140", "0.40"),
            (None, "0.45"),
        ),
        pension_rate=Decimal("0.05"),
        pension_tax_deductible=True,
        source="ILLUSTRATIVE: HMRC income tax rates and bands 2025-26 (England); employee "
        "auto-enrolment pension minimum 5% applied to the whole salary. Allowance taper and "
        "National Insurance omitted.",
    ),
    StatutoryRules(
        country_code="KE",
        effective_from=date(2023, 7, 1),
        currency="KES",
        bands=_bands(
            ("288000", "0.10"),
            ("388000", "0.25"),
            ("6388000", "0.30"),
            ("9628000", "0.325"),
            (None, "0.35"),
        ),
        pension_rate=Decimal("0.06"),
        pension_tax_deductible=True,
        source="ILLUSTRATIVE: Kenya Revenue Authority PAYE annual bands from Finance Act 2023; "
        "pension simplified to a 6% employee contribution (NSSF tiers and caps omitted); "
        "personal relief omitted.",
    ),
)


def validate(rules: StatutoryRules) -> None:
    """Bands ascend, the last has no ceiling, rates are between 0 and 1."""
    if not rules.bands:
        raise RulesError("at least one band is required")
    previous = Decimal(0)
    for i, band in enumerate(rules.bands):
        if not Decimal(0) <= band.rate <= Decimal(1):
            raise RulesError(f"band {i}: rate must be between 0 and 1")
        last = i == len(rules.bands) - 1
        if last and band.up_to is not None:
            raise RulesError("the last band must have no ceiling (upTo null)")
        if not last:
            if band.up_to is None:
                raise RulesError(f"band {i}: only the last band may have no ceiling")
            if band.up_to <= previous:
                raise RulesError(f"band {i}: ceilings must ascend")
            previous = band.up_to
    if not Decimal(0) <= rules.pension_rate <= Decimal(1):
        raise RulesError("pension rate must be between 0 and 1")


def rules_for(
    table: tuple[StatutoryRules, ...] | list[StatutoryRules], country_code: str, on: date
) -> StatutoryRules | None:
    """The version in force on ``on``: the latest ``effective_from`` not after it."""
    candidates = [r for r in table if r.country_code == country_code and r.effective_from <= on]
    return max(candidates, key=lambda r: r.effective_from) if candidates else None


def progressive_tax(taxable: Decimal, bands: tuple[Band, ...]) -> Decimal:
    """Tax on an annual taxable income, band by band (unrounded)."""
    tax = Decimal(0)
    lower = Decimal(0)
    for band in bands:
        if taxable <= lower:
            break
        upper = taxable if band.up_to is None else min(taxable, band.up_to)
        tax += (upper - lower) * band.rate
        if band.up_to is None:
            break
        lower = band.up_to
    return tax
