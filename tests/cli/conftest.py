from tests.client.conftest import live, live_dev

__all__ = ["live", "live_dev"]
