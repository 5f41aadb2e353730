"""Bounded retries: exponential backoff with full jitter, honouring ``Retry-After``."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime

import httpx

# 503 may come after a side effect started; only retry it where repeating is harmless.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# A request extension set by the resources, which know each operation: True for an idempotent
# method or a POST the server deduplicates by its Idempotency-Key; False for a POST it does not
# (the resources send a key with every POST, so the header alone proves nothing there).
REPEATABLE = "fluide_repeatable"
IN_PROGRESS = "IDEMPOTENCY_REQUEST_IN_PROGRESS"


def repeatable(request: httpx.Request) -> bool:
    """Sending this request twice does no more than sending it once: what the resource
    declared, else an idempotent method, or an ``Idempotency-Key`` that the caller of
    ``request()`` sent (the server replays the first answer instead of acting again)."""
    declared = request.extensions.get(REPEATABLE)
    if declared is not None:
        return bool(declared)
    return request.method.upper() in IDEMPOTENT or "idempotency-key" in request.headers


def _code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except (ValueError, httpx.ResponseNotRead):
        return None
    return body.get("code") if isinstance(body, dict) else None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


@dataclass
class RetryPolicy:
    """How the clients retry 429 (any method: the request was not processed), 503 (repeatable
    requests), 409 ``IDEMPOTENCY_REQUEST_IN_PROGRESS`` (a repeat of a deduplicated POST whose
    first attempt is still running), a connection that could not be opened (any method:
    nothing was sent) and a request lost on a stale keep-alive connection (repeatable requests
    and the token exchange, once per call).

    ``max_retries`` bounds the attempts after the first; ``max_wait`` bounds the total time
    spent sleeping: a ``Retry-After`` that would exceed it raises at once instead of waiting.
    """

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 20.0
    max_wait: float = 60.0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)], at least a little."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2**attempt))
        return max(0.01, self.rng.uniform(0, ceiling))

    def delay_for_response(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying this response, or None when it must not be retried."""
        status = response.status_code
        again = status in (503, 409) and repeatable(response.request)
        if status == 429 or (again and (status == 503 or _code(response) == IN_PROGRESS)):
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if retry_after is not None:
                # Honour the server's wait, plus a little jitter so clients do not stampede.
                return retry_after + self.rng.uniform(0, min(1.0, 0.1 * retry_after + 0.1))
            return self.backoff(attempt)
        return None

    def delay_for_connect_error(self, attempt: int) -> float:
        return self.backoff(attempt)

    def delay_for_stale_connection(self, attempt: int) -> float:
        # The server closed that connection before reading the request; a new one needs no wait.
        return 0.0

    def allows(self, attempt: int, waited: float, delay: float) -> bool:
        return attempt < self.max_retries and waited + delay <= self.max_wait
