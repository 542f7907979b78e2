"""Hypothesis settings shared by the fuzz tests: a few hundred examples per endpoint in
``make test``, thousands under CI (``FUZZ_EXAMPLES`` overrides both)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["EXAMPLES", "FUZZ"]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or (2000 if os.environ.get("CI") else 200))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not os.environ.get("CI"),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
