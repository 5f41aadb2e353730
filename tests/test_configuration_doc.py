"""docs/configuration.md documents every setting: a new field without a line fails here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from fluide.products.pay.settlement import SettlementSettings
from fluide.settings import Settings

DOC = Path(__file__).parents[1] / "docs" / "configuration.md"
ROW = re.compile(r"^\| `(FLUIDE_[A-Z0-9_]+)` \| ([^|]*) \| ([^|]*) \|$")
SERVER_SETTINGS: tuple[type[BaseSettings], ...] = (Settings, SettlementSettings)
CLIENT_VARIABLES = {
    "FLUIDE_BASE_URL",
    "FLUIDE_API_KEY",
    "FLUIDE_API_SECRET",
    "FLUIDE_CLIENT_ID",
    "FLUIDE_TOKEN_CACHE",
}


def documented() -> dict[str, tuple[str, str]]:
    """Variable → (default cell, meaning cell), from every table row of the doc."""
    rows: dict[str, tuple[str, str]] = {}
    for line in DOC.read_text().splitlines():
        if (match := ROW.match(line.strip())) is not None:
            name, default, meaning = match.groups()
            rows.setdefault(name, (default.strip(), meaning.strip()))
    return rows


def fields() -> dict[str, Any]:
    """``FLUIDE_<NAME>`` → the field's default, for every server settings class."""
    out: dict[str, Any] = {}
    for cls in SERVER_SETTINGS:
        assert cls.model_config.get("env_prefix") == "FLUIDE_"
        for name, field in cls.model_fields.items():
            out[f"FLUIDE_{name.upper()}"] = field.default
    return out


def test_every_setting_has_a_line() -> None:
    missing = sorted(set(fields()) - set(documented()))
    assert missing == [], f"docs/configuration.md has no line for {missing}"


def test_every_line_is_a_setting() -> None:
    stale = sorted(set(documented()) - set(fields()) - CLIENT_VARIABLES)
    assert stale == [], f"docs/configuration.md documents settings that do not exist: {stale}"
    assert set(documented()) >= CLIENT_VARIABLES


def test_every_line_says_what_it_means() -> None:
    for name, (default, meaning) in documented().items():
        assert default and len(meaning) > 10, name


@pytest.mark.parametrize("name", sorted(fields()))
def test_the_documented_default_is_the_code_default(name: str) -> None:
    default = fields()[name]
    cell = documented()[name][0]
    if default is None or default == "":
        assert cell.startswith(("unset", "generated", "none")), (name, cell)
        return
    token = re.match(r"`([^`]*)`", cell)
    assert token is not None, (name, cell)
    shown = token.group(1)
    if isinstance(default, bool):
        assert shown == str(default).lower(), name
    elif isinstance(default, int | float):
        assert float(shown) == float(default), name
    else:
        assert shown == str(default), name
