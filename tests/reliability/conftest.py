"""Reliability fixtures: the pipeline harness's sandbox, and private Redis/PostgreSQL servers.

The machine's PostgreSQL and Redis are shared with other test runs: tests that restart a
server start their own on a free loopback port under a temp dir, and kill only that.
"""

from __future__ import annotations

from tests.pipeline.conftest import sandbox

__all__ = ["sandbox"]
