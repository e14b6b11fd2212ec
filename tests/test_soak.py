"""The soak's short variant: bench/soak.py for under a minute, every kind of fault once, every check held."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import require_part
from tests.postgres_server import BIN_DIR
from tests.redis_server import REDIS_SERVER
from tests.test_bench import run_bench

pytestmark = [pytest.mark.realpart, pytest.mark.slow]


def test_short_soak_loses_nothing_and_refuses_only_with_503_during_faults() -> None:
    require_part(REDIS_SERVER is not None, "redis-server")
    require_part(BIN_DIR is not None, "PostgreSQL (Debian's postgresql package: initdb, pg_ctl)")
    figures: dict[str, Any] = run_bench("soak", "--minutes", "0.6", "--professionals", "3", "--fault-every", "7")
    assert figures["failures"] == [], figures
    assert set(figures["faults"]) == {"redis", "kill", "disk", "postgres"}
    assert figures["requests_served"] > 0 and figures["refused_during_faults"] > 0  # load met the faults
    assert figures["entries_lost"] == 0 and figures["allowed_without_decision"] == 0
    assert figures["acknowledged_lost_after_kill"] == 0 and figures["wrong_during_faults"] == 0
    assert figures["server_errors"] == 0 and figures["over_hard_limit"] == 0 and figures["audit_verify"]
