"""Rate limits: in this process by default, shared by every process through Redis when
configured. ``limiter.RateLimiter`` is the entry; the modules, from the bottom up:

- ``base``: the limit notation, the key layout, ``Decision``;
- ``memory``: the windows in this process (``MemoryWindows``);
- ``redis_store``: the same windows in Redis (``RedisWindows``), one Lua script per operation;
- ``shared``: fixed windows shared through Redis but decided in this process (``SharedWindow``),
  synchronised in the background;
- ``limiter``: ``RateLimiter``, which picks the storage and falls back to memory.
"""

from fluide.kit.ratelimit.base import Decision, Limit, LimitIds, key_for, parse_limit
from fluide.kit.ratelimit.limiter import RateLimiter
from fluide.kit.ratelimit.memory import MemoryWindows
from fluide.kit.ratelimit.shared import DEFAULT_SYNC_SECONDS, SharedWindow

__all__ = [
    "DEFAULT_SYNC_SECONDS",
    "Decision",
    "Limit",
    "LimitIds",
    "MemoryWindows",
    "RateLimiter",
    "SharedWindow",
    "key_for",
    "parse_limit",
]
