from __future__ import annotations

from collections.abc import Iterator

import pytest

from fluide.settings import Settings
from tests.client.support import LiveServer, live_server
from tests.conftest import Dev, create_dev


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    with live_server(settings) as server:
        yield server


@pytest.fixture
def live_dev(live: LiveServer) -> Dev:
    return live.run(create_dev(live.runtime))
