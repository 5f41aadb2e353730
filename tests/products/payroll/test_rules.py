"""Statutory rules: versioned per country and date, progressive bands."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from fluide.products.payroll import rules
from fluide.products.payroll.rules import Band, StatutoryRules


def _rules(country: str, start: date, pension: str = "0.05") -> StatutoryRules:
    return StatutoryRules(
        country,
        start,
        "USD",
        (Band(Decimal(100), Decimal(0)), Band(None, Decimal("0.1"))),
        Decimal(pension),
        True,
        "test",
    )


def test_every_default_is_valid_and_names_its_source() -> None:
    countries = {r.country_code for r in rules.DEFAULT_RULES}
    assert len(countries) >= 2
    for r in rules.DEFAULT_RULES:
        rules.validate(r)
        assert r.source.startswith("ILLUSTRATIVE")


def test_version_in_force_is_the_latest_not_after_the_date() -> None:
    old, new = _rules("ZZ", date(2020, 1, 1), "0.05"), _rules("ZZ", date(2024, 1, 1), "0.07")
    table = [new, old]
    assert rules.rules_for(table, "ZZ", date(2019, 12, 31)) is None
    assert rules.rules_for(table, "ZZ", date(2023, 12, 31)) is old
    assert rules.rules_for(table, "ZZ", date(2024, 1, 1)) is new
    assert rules.rules_for(table, "YY", date(2024, 1, 1)) is None


def test_nigeria_bands() -> None:
    ng = rules.rules_for(rules.DEFAULT_RULES, "NG", date(2026, 11, 1))
    assert ng is not None
    # 300k@7% + 300k@11% + 500k@15% + 500k@19% + 1.6m@21% + 400k@24%
    expected = (
        Decimal(21000)
        + Decimal(33000)
        + Decimal(75000)
        + Decimal(95000)
        + Decimal(336000)
        + Decimal(96000)
    )
    assert rules.progressive_tax(Decimal(3_600_000), ng.bands) == expected
    assert rules.progressive_tax(Decimal(0), ng.bands) == 0
    assert rules.progressive_tax(Decimal(100_000), ng.bands) == Decimal(7000)


def test_uk_bands_at_the_edges() -> None:
    gb = rules.rules_for(rules.DEFAULT_RULES, "GB", date(2025, 4, 6))
    assert gb is not None
    assert rules.progressive_tax(Decimal(12570), gb.bands) == 0
    assert rules.progressive_tax(Decimal(50270), gb.bands) == Decimal("7540.00")
    assert rules.progressive_tax(Decimal(60000), gb.bands) == Decimal("7540.00") + Decimal(
        "3892.00"
    )


@pytest.mark.parametrize(
    "bands",
    [
        (),
        (Band(Decimal(100), Decimal("0.1")),),  # last band has a ceiling
        (Band(None, Decimal("0.1")), Band(None, Decimal("0.2"))),
        (Band(Decimal(200), Decimal("0.1")), Band(Decimal(100), Decimal("0.2")), Band(None, 0)),
        (Band(None, Decimal("1.5")),),
    ],
)
def test_invalid_tables_are_refused(bands: tuple[Band, ...]) -> None:
    bad = StatutoryRules("ZZ", date(2020, 1, 1), "USD", bands, Decimal("0.05"), True, "x")
    with pytest.raises(rules.RulesError):
        rules.validate(bad)
