"""Process-wide event counters that ``/metrics`` reports (no imports: cheap for any module)."""

from __future__ import annotations

from collections import Counter
from typing import Any

#: Sandbox jobs that failed, by class (the limit hit, or ``exit_error``).
SANDBOX_FAILURES: Counter[str] = Counter()


def record_sandbox_result(result: Any) -> Any:
    """Called as a sandbox job ends (any driver); returns the result."""
    if result.limit_hit is not None:
        SANDBOX_FAILURES[str(result.limit_hit)] += 1
    elif result.exit_code != 0:
        SANDBOX_FAILURES["exit_error"] += 1
    return result
