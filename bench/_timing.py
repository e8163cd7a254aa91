"""Timing shared by the benchmarks: the best of several runs, which is the least disturbed by other load."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def timed(func: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """(best wall time in seconds over ``repeat`` runs, the last run's result)."""
    best = float("inf")
    result: Any = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result
