"""Garbage-collector settings for a serving process.

A request allocates a few hundred objects and frees nearly all of them by reference counting;
under load dozens of requests are in flight at once, so CPython's default first-generation
threshold (700 net allocations) starts a collection every few requests, and each one walks
every young object, and now and then the whole heap (~150,000 objects once the app is loaded).
None of that finds garbage: the objects are freed when their request ends.

``tune_for_serving`` runs once the app has started: one full collection, then ``gc.freeze()``
(what is loaded by then, modules, routes, schemas, lives as long as the process, so later
collections skip it) and a higher first threshold. Cyclic garbage is still collected, a little
later. Only ``fluide serve``'s app does this (``app_from_env``); a test process that builds
many apps keeps the defaults, since frozen objects are never collected.
"""

from __future__ import annotations

import gc

SERVING_THRESHOLDS = (20_000, 20, 20)


def tune_for_serving() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_THRESHOLDS)
