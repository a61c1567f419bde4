"""The revenue refresh task (issue #22): beat runs it every CX360_REVENUE_REFRESH_HOURS; the
CLI and ``POST /api/v1/stats/revenue/refresh`` ask for it. Thin: the work is in
``connector.sync.revenue``."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from flask import current_app

from connector.crm.errors import FatalCrmError, RetriableCrmError
from connector.extensions import database
from connector.scoring import ScoringConfig
from connector.storage import utcnow
from connector.sync.revenue import refresh_revenue, revenue_source
from connector.sync.runs import crm_connection
from tasks.retries import retry_later

log = logging.getLogger(__name__)


@shared_task(bind=True, name="cx360.refresh_revenue", max_retries=5)
def refresh_revenue_task(self: Any) -> dict[str, Any]:
    """Read every matched account's revenue from the CRM, store it, queue the changed ones."""
    config = current_app.config
    try:
        adapter, _ = crm_connection(config)
        report = refresh_revenue(
            database(), revenue_source(adapter), now=utcnow(),
            window_days=ScoringConfig.from_config(config).window_days,
        )  # fmt: skip
    except RetriableCrmError as exc:
        fallback = 60.0 * 2**self.request.retries
        raise retry_later(self, exc, fallback, "revenue refresh") from exc
    except FatalCrmError as exc:
        log.error("revenue refresh failed: %s", exc)
        return {"status": "failed", "error": str(exc)}
    log.info("revenue refresh: %s", report.as_dict())
    return {"status": "succeeded", **report.as_dict()}
