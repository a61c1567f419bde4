"""GET /api/v1/stats/nps: company-wide (or one account's) NPS per day/week/month.
GET /api/v1/stats/revenue: the revenue view (issue #22), per currency."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app
from flask_smorest import Blueprint
from sqlalchemy.orm import Session

from connector.api.errors import fail
from connector.api.schemas import (
    ErrorOut,
    NpsStatsOut,
    NpsStatsQuery,
    RevenueRefreshOut,
    RevenueStatsOut,
    RevenueStatsQuery,
)
from connector.auth import protect, require_scope
from connector.extensions import db_session
from connector.ingest import find_account
from connector.revenue import RevenueAccount, revenue_report
from connector.scorecards import nps_over_range
from connector.scoring import NpsSummary, ScoringConfig, round1, series_range_problem
from connector.scoring.revenue import RevenuePortfolio, revenue_status
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


def _account_filter(session: Session, key: str | None) -> int | None:
    """The id of the ``account`` filter's account (domain or CRM id); 404 naming an unknown."""
    if not key:
        return None
    account = find_account(session, key)
    if account is None:
        fail(404, f"No account with domain or CRM id {key!r}.")
    return account.id


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
    the last 12 weeks, weekly. Filters: `account` (domain or CRM id), `touchpoint`. A range
    of more than 1,000 buckets, or with `from` or `to` outside 1900-01-01..9000-01-01, is
    refused with 422 naming the parameter.
    """
    session = db_session()
    end = query["to"] or utcnow()
    start = query["from_"] or end - timedelta(weeks=DEFAULT_WEEKS)
    if start >= end:
        fail(422, "'from' must be before 'to'.", errors={"query": {"from": ["Not before 'to'."]}})
    problem = series_range_problem(start, end, query["interval"])
    if problem is not None:
        bound, reason = problem
        field = "from" if bound == "start" else "to"
        fail(422, f"'{field}': {reason}", errors={"query": {field: [reason]}})
    account_id = _account_filter(session, query["account"])
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


def _portfolio(p: RevenuePortfolio) -> dict[str, Any]:
    return {
        "currency": p.currency,
        "accounts": p.accounts,
        "revenue": float(p.revenue),
        "revenue_with_feedback": float(p.revenue_with_feedback),
        "revenue_at_risk": float(p.revenue_at_risk),
        "revenue_without_signal": float(p.revenue_without_signal),
        "weighted_nps": round1(p.weighted_nps),
        "coverage_pct": round1(p.coverage_pct),
        "at_risk": p.at_risk,
        "safe": p.safe,
        "no_signal": p.no_signal,
    }


def revenue_account_out(a: RevenueAccount) -> dict[str, Any]:
    return {
        "domain": a.domain,
        "crm_id": a.crm_id,
        "name": a.name,
        "amount": float(a.entry.amount) if a.entry.amount is not None else None,
        "currency": a.entry.currency,
        "status": revenue_status(a.entry.amount, a.entry.nps),
        "nps": round1(a.entry.nps),
    }


@stats_blp.get("/revenue")
@stats_blp.doc(security=[{"bearerAuth": []}])
@stats_blp.arguments(RevenueStatsQuery, location="query")
@stats_blp.response(200, RevenueStatsOut)
@stats_blp.alt_response(404, schema=ErrorOut, description="No such account")
def revenue_stats(query: dict[str, Any]) -> dict[str, Any]:
    """Revenue-weighted NPS, revenue at risk, revenue without signal and coverage

    Per currency: amounts of different currencies are never added up. Revenue is each
    account's closed-won deals with a close date in the window (`CX360_WINDOW_DAYS`) as last
    read from the CRM; NPS is the account NPS of the same window. Accounts without revenue do
    not count. The figures are what the CRM shows now: no date range applies. Filter:
    `account` (domain or CRM id).
    """
    session = db_session()
    account_id = _account_filter(session, query["account"])
    report = revenue_report(session, account_id=account_id)
    return {
        "window_days": ScoringConfig.from_config(current_app.config).window_days,
        "portfolios": [_portfolio(p) for p in report.view.portfolios],
        "unknown_currency": report.view.unknown_currency,
        "unknown_amount": report.view.unknown_amount,
        "without_signal": [revenue_account_out(a) for a in report.without_signal],
    }


@stats_blp.post("/revenue/refresh")
@stats_blp.doc(security=[{"bearerAuth": []}])
@stats_blp.response(202, RevenueRefreshOut)
@stats_blp.alt_response(503, schema=ErrorOut, description="The task queue is unavailable")
@require_scope("admin")
def revenue_refresh() -> dict[str, Any]:
    """Read the accounts' revenue from the CRM now

    Queues the refresh a worker's beat otherwise runs every `CX360_REVENUE_REFRESH_HOURS`: the
    revenue of every matched account is read within the shared CRM request budget, and the
    accounts whose revenue changed are pushed. Needs an `admin` key.
    """
    try:
        current_app.extensions["celery"].send_task("cx360.refresh_revenue", retry=False)
    except Exception as exc:
        fail(503, f"The task queue is unavailable ({type(exc).__name__}); retry later.")
    return {"queued": True}
