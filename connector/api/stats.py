"""GET /api/v1/stats/nps: company-wide (or one account's) NPS per day/week/month."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app
from flask_smorest import Blueprint

from connector.api.errors import fail
from connector.api.schemas import ErrorOut, NpsStatsOut, NpsStatsQuery
from connector.auth import protect
from connector.extensions import db_session
from connector.ingest import find_account
from connector.scorecards import nps_over_range
from connector.scoring import NpsSummary, ScoringConfig, round1
from connector.storage import utcnow

stats_blp = Blueprint("stats", __name__, url_prefix="/api/v1/stats", description="Statistics")
protect(stats_blp, "read")
DEFAULT_WEEKS = 12


def _bucket(start: Any, end: Any, summary: NpsSummary) -> dict[str, Any]:
    return {
        "start": start,
        "end": end,
        "n": summary.n,
        "promoters": summary.promoters,
        "passives": summary.passives,
        "detractors": summary.detractors,
        "nps": round1(summary.score),
        "moe": round1(summary.moe),
    }


@stats_blp.get("/nps")
@stats_blp.doc(security=[{"bearerAuth": []}])
@stats_blp.arguments(NpsStatsQuery, location="query")
@stats_blp.response(200, NpsStatsOut)
@stats_blp.alt_response(404, schema=ErrorOut, description="No such account")
def nps_stats(query: dict[str, Any]) -> dict[str, Any]:
    """NPS, N and margin of error per bucket

    Each bucket counts the latest response per contact inside it; buckets are whole calendar
    periods of the business's time zone `CX360_TIMEZONE` (weeks from Monday), so the first
    counts its whole period, also before `from`, and starts at that period's start. `window` is
    [from, to] at once. The dashboard and the weekly summary show the same figures. Defaults:
    the last 12 weeks, weekly. Filters: `account` (domain or CRM id), `touchpoint`.
    """
    session = db_session()
    end = query["to"] or utcnow()
    start = query["from_"] or end - timedelta(weeks=DEFAULT_WEEKS)
    if start >= end:
        fail(422, "'from' must be before 'to'.", errors={"query": {"from": ["Not before 'to'."]}})
    account_id = None
    if query["account"]:
        account = find_account(session, query["account"])
        if account is None:
            fail(404, f"No account with domain or CRM id {query['account']!r}.")
        account_id = account.id
    nps = nps_over_range(
        session, start=start, end=end, interval=query["interval"], account_id=account_id,
        touchpoint=query["touchpoint"], end_counts=True,
        zone=ScoringConfig.from_config(current_app.config).zone,
    )  # fmt: skip
    return {
        "interval": query["interval"],
        "window": _bucket(start, end, nps.window),
        "buckets": [_bucket(b.start, b.end, b.summary) for b in nps.buckets],
    }
