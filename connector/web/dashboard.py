"""What the dashboard and the weekly summary show, read from storage.

The figures come from the scoring core (``nps_series``, ``population_nps``, ``csat_summary``,
``reverse_nps``) over the same stored rows the REST API uses; this module only selects rows
and arranges the results for the templates. Segment counts and the account scatter come from
the stored scorecards: they are what the CRM shows now, so the date range does not apply to
them (the page says so). The revenue view (issue #22) likewise: revenue in the window as last
read from the CRM and the account NPS of the same window (``connector.revenue``); of the
filters only the account applies.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from connector.revenue import RevenueReport, revenue_report
from connector.scorecards import account_key, contact_key, nps_over_range, responses_in_range
from connector.scoring import (
    EARLIEST,
    LATEST,
    MAX_BUCKETS,
    SEGMENTS,
    CsatSummary,
    NpsBucket,
    NpsSummary,
    ReverseNpsSummary,
    ScoringConfig,
    band,
    bucket_count,
    bucket_start,
    csat_summary,
    next_bucket_start,
    reverse_nps,
    round1,
)
from connector.scoring import EmployeeRating as RatingValue
from connector.storage import (
    Account,
    Contact,
    EmployeeRating,
    OutboxItem,
    Response,
    Scorecard,
    SyncRun,
)

DEFAULT_WEEKS = 12
COMMENTS_SHOWN = 6
SYNC_RUNS_SHOWN = 5
SEGMENT_LABELS = {
    "at_risk": lazy_gettext("At risk"),
    "untapped": lazy_gettext("Untapped"),
    "champion": lazy_gettext("Champion"),
    "nurture": lazy_gettext("Nurture"),
    "maintain": lazy_gettext("Maintain"),
}
CATEGORY_LABELS = {
    "promoter": lazy_gettext("promoter"),
    "passive": lazy_gettext("passive"),
    "detractor": lazy_gettext("detractor"),
}


@dataclass(frozen=True)
class Filters:
    """The dashboard's filters: ``[start, end)`` in UTC, an account id, a touchpoint."""

    start: datetime
    end: datetime
    account_id: int | None = None
    touchpoint: str | None = None

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(days=1)).date()

    def query(self, **changes: Any) -> dict[str, str]:
        """The filters as URL query arguments (for links that keep them)."""
        values = {
            "from": self.first_day.isoformat(),
            "to": self.last_day.isoformat(),
            "account": str(self.account_id) if self.account_id else "",
            "touchpoint": self.touchpoint or "",
        }
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v}


def day_start(day: date, zone: tzinfo = UTC) -> datetime:
    """Midnight at the start of ``day`` in ``zone`` (the business's time zone)."""
    return datetime.combine(day, time.min, tzinfo=zone)


def parse_filters(
    args: Mapping[str, str], today: date, zone: tzinfo = UTC
) -> tuple[Filters, dict[str, str]]:
    """Filters from query arguments; bad values fall back to defaults and are reported.

    Days are calendar days in ``zone``, the business's time zone."""
    errors: dict[str, str] = {}

    def day(name: str) -> date | None:
        raw = (args.get(name) or "").strip()
        if not raw:
            return None
        try:
            parsed = date.fromisoformat(raw)
        except ValueError:
            errors[name] = _("Not a date: %(value)s (use YYYY-MM-DD).", value=repr(raw))
            return None
        if not EARLIEST.date() <= parsed < LATEST.date():
            errors[name] = _("Not between %(earliest)s and %(latest)s: %(value)s.",
                             earliest=EARLIEST.date(), latest=LATEST.date(), value=raw)  # fmt: skip
            return None
        return parsed

    last = day("to") or today
    first = day("from") or bucket_start(day_start(last, zone), "week", zone).date() - timedelta(
        weeks=DEFAULT_WEEKS - 1
    )
    if first > last:
        errors["from"] = _("The first day is after the last day.")
        first = last
    end = day_start(last + timedelta(days=1), zone)
    if bucket_count(day_start(first, zone), end, "week") > MAX_BUCKETS:
        # the trend shows a week per bar: at most MAX_BUCKETS of them, the latest
        errors["from"] = _("At most %(weeks)s weeks at once: showing the last %(weeks)s.",
                           weeks=MAX_BUCKETS)  # fmt: skip
        first = last - timedelta(weeks=MAX_BUCKETS - 2)
    account_id = None
    raw_account = (args.get("account") or "").strip()
    if raw_account:
        if raw_account.isdigit():
            account_id = int(raw_account)
        else:
            errors["account"] = _("Pick an account from the list.")
    touchpoint = (args.get("touchpoint") or "").strip() or None
    filters = Filters(day_start(first, zone), end, account_id, touchpoint)
    return filters, errors


@dataclass(frozen=True)
class Comment:
    score: int
    category: str
    text: str
    answered_at: datetime
    contact: str
    account: str | None
    touchpoint: str | None


@dataclass(frozen=True)
class AccountPoint:
    label: str
    nps: float
    relationship: float
    responses: int
    segment: str | None
    revenue: float | None = None
    currency: str | None = None


@dataclass(frozen=True)
class SyncHealth:
    runs: list[SyncRun]
    rejected: int
    unmatched_contacts: int
    unmatched_accounts: int
    pending: int
    last_success: datetime | None


@dataclass
class Dashboard:
    filters: Filters
    window: NpsSummary
    weeks: list[NpsBucket]
    csat: CsatSummary
    rnps: ReverseNpsSummary | None
    segments: dict[str, int]
    accounts: list[AccountPoint]
    detractor_comments: list[Comment]
    sync: SyncHealth
    revenue: RevenueReport
    options: dict[str, Any] = field(default_factory=dict)

    def sized_by_revenue(self) -> bool:
        """The scatter's point size is revenue once any shown account has some, else the
        number of responses."""
        return any(a.revenue for a in self.accounts)

    def _revenue_sizes(self) -> list[float]:
        """Point size 0..1 by revenue: the square root of the share of the largest revenue in
        the same currency (areas compare within a currency, never across)."""
        largest: dict[str, float] = {}
        for a in self.accounts:
            if a.revenue and a.currency:
                largest[a.currency] = max(largest.get(a.currency, 0.0), a.revenue)
        return [
            math.sqrt(a.revenue / largest[a.currency]) if a.revenue and a.currency else 0.0
            for a in self.accounts
        ]

    def chart_data(self) -> dict[str, Any]:
        """What the charts draw (read by static/js/charts.js from a JSON script element)."""
        return {
            "weeks": [
                {
                    "label": b.start.date().isoformat(),
                    "nps": round1(b.summary.score),
                    "moe": round1(b.summary.moe),
                    "n": b.summary.n,
                }
                for b in self.weeks
            ],
            "split": {
                "promoters": self.window.promoters,
                "passives": self.window.passives,
                "detractors": self.window.detractors,
            },
            "segments": [
                {"name": name, "label": str(SEGMENT_LABELS.get(name, name)), "count": count}
                for name, count in self.segments.items()
            ],
            "accounts": [
                {"label": a.label, "x": a.nps, "y": a.relationship, "n": a.responses,
                 "revenue": a.revenue, "currency": a.currency, "size": size}
                for a, size in zip(self.accounts, self._revenue_sizes(), strict=True)
            ],
            "size_by": "revenue" if self.sized_by_revenue() else "responses",
        }  # fmt: skip


def pct(part: int, whole: int) -> float | None:
    return round1(100 * part / whole) if whole else None


def _ratings_in_range(session: Session, filters: Filters) -> list[RatingValue]:
    query = select(
        EmployeeRating.employee, EmployeeRating.contact_id, EmployeeRating.account_id,
        EmployeeRating.relationship, EmployeeRating.potential, EmployeeRating.rated_at,
        EmployeeRating.received_at, EmployeeRating.comment,
    ).where(
        EmployeeRating.rated_at >= filters.start, EmployeeRating.rated_at < filters.end
    )  # fmt: skip
    if filters.account_id is not None:
        members = select(Contact.id).where(Contact.account_id == filters.account_id)
        query = query.where(
            or_(
                EmployeeRating.account_id == filters.account_id,
                EmployeeRating.contact_id.in_(members),
            )
        )
    return [
        RatingValue(
            employee=row.employee,
            subject=contact_key(row.contact_id)
            if row.contact_id
            else account_key(row.account_id or 0),
            relationship=row.relationship,
            potential=row.potential,
            rated_at=row.rated_at,
            received_at=row.received_at,
            comment=row.comment,
        )
        for row in session.execute(query)
    ]


def latest_comments(
    session: Session, filters: Filters, category: str, limit: int = COMMENTS_SHOWN
) -> list[Comment]:
    """The latest NPS comments in range whose score falls in ``category``."""
    query = (
        select(Response, Contact.email, Account.name, Account.domain)
        .join(Contact, Contact.id == Response.contact_id)
        .outerjoin(Account, Account.id == func.coalesce(Response.account_id, Contact.account_id))
        .where(
            Response.kind == "nps",
            Response.comment.is_not(None),
            Response.answered_at >= filters.start,
            Response.answered_at < filters.end,
        )
        .order_by(Response.answered_at.desc(), Response.id.desc())
    )
    if filters.account_id is not None:
        members = select(Contact.id).where(Contact.account_id == filters.account_id)
        query = query.where(
            or_(Response.account_id == filters.account_id, Response.contact_id.in_(members))
        )
    if filters.touchpoint:
        query = query.where(Response.touchpoint == filters.touchpoint)
    found: list[Comment] = []
    # Comments are a small share of the rows; the band is the scoring core's, not SQL's.
    for response, email, account_name, domain in session.execute(query.limit(limit * 20)):
        if band(response.score) != category or not (response.comment or "").strip():
            continue
        found.append(
            Comment(
                score=response.score,
                category=category,
                text=response.comment or "",
                answered_at=response.answered_at,
                contact=email or "",
                account=account_name or domain,
                touchpoint=response.touchpoint,
            )
        )
        if len(found) == limit:
            break
    return found


def _scorecards(session: Session, subject_type: str, account_id: int | None) -> list[Any]:
    if subject_type == "contact":
        query = select(Scorecard.values).join(Contact, Contact.id == Scorecard.subject_id)
        if account_id is not None:
            query = query.where(Contact.account_id == account_id)
        return list(session.scalars(query.where(Scorecard.subject_type == "contact")))
    query = select(Scorecard.values, Account.name, Account.domain, Account.crm_id).join(
        Account, Account.id == Scorecard.subject_id
    )
    if account_id is not None:
        query = query.where(Account.id == account_id)
    return list(session.execute(query.where(Scorecard.subject_type == "account")))


def segment_counts(session: Session, account_id: int | None) -> dict[str, int]:
    counts = Counter(
        (values or {}).get("cx360.segment")
        for values in _scorecards(session, "contact", account_id)
    )
    return {name: counts.get(name, 0) for name in SEGMENTS}


def account_points(session: Session, account_id: int | None) -> list[AccountPoint]:
    points = []
    for values, name, domain, crm_id in _scorecards(session, "account", account_id):
        values = values or {}
        nps, relationship = values.get("nps.score"), values.get("rnps.relationship_avg")
        if nps is None or relationship is None:
            continue
        points.append(
            AccountPoint(
                label=name or domain or crm_id or "?",
                nps=nps,
                relationship=relationship,
                responses=int(values.get("nps.responses") or 0),
                segment=values.get("cx360.segment"),
                revenue=values.get("revenue.amount"),
                currency=values.get("revenue.currency"),
            )
        )
    return sorted(points, key=lambda p: p.label)


def sync_health(session: Session) -> SyncHealth:
    runs = list(
        session.scalars(
            select(SyncRun)
            .where(SyncRun.dry_run.is_(False))
            .order_by(SyncRun.created_at.desc(), SyncRun.id.desc())
            .limit(SYNC_RUNS_SHOWN)
        )
    )
    last_success = session.scalar(
        select(func.max(SyncRun.finished_at)).where(
            SyncRun.status == "succeeded", SyncRun.dry_run.is_(False)
        )
    )
    return SyncHealth(
        runs=runs,
        rejected=sum(run.rejected for run in runs),
        unmatched_contacts=int(
            session.scalar(select(func.count()).where(Contact.unmatched_since.is_not(None))) or 0
        ),
        unmatched_accounts=int(
            session.scalar(select(func.count()).where(Account.unmatched_since.is_not(None))) or 0
        ),
        pending=int(
            session.scalar(select(func.count()).where(OutboxItem.processed_at.is_(None))) or 0
        ),
        last_success=last_success,
    )


def filter_options(session: Session) -> dict[str, Any]:
    accounts = session.execute(
        select(Account.id, Account.name, Account.domain, Account.crm_id)
    ).all()
    touchpoints = session.scalars(
        select(Response.touchpoint).where(Response.touchpoint.is_not(None)).distinct()
    )
    return {
        "accounts": sorted(
            ((a.id, a.name or a.domain or a.crm_id or f"#{a.id}") for a in accounts),
            key=lambda a: a[1].lower(),
        ),
        "touchpoints": sorted(t for t in touchpoints if t),
    }


def build_dashboard(session: Session, filters: Filters, config: ScoringConfig) -> Dashboard:
    nps = nps_over_range(
        session, start=filters.start, end=filters.end, account_id=filters.account_id,
        touchpoint=filters.touchpoint, zone=config.zone,
    )  # fmt: skip
    csat_responses = responses_in_range(
        session, start=filters.start, end=filters.end, kind="csat",
        account_id=filters.account_id, touchpoint=filters.touchpoint,
    )  # fmt: skip
    last_instant = filters.end - timedelta(microseconds=1)
    return Dashboard(
        filters=filters,
        window=nps.window,
        weeks=nps.buckets,
        csat=csat_summary(csat_responses, start=filters.start, now=last_instant, config=config),
        rnps=reverse_nps(_ratings_in_range(session, filters)),
        segments=segment_counts(session, filters.account_id),
        accounts=account_points(session, filters.account_id),
        detractor_comments=latest_comments(session, filters, "detractor"),
        sync=sync_health(session),
        revenue=revenue_report(session, account_id=filters.account_id),
        options=filter_options(session),
    )


@dataclass
class WeeklySummary:
    """One week against the week before, with its comments: the page shared with staff."""

    week_start: datetime
    this_week: NpsSummary
    previous_week: NpsSummary
    trend: list[NpsBucket]
    csat: CsatSummary
    rnps: ReverseNpsSummary | None
    detractor_comments: list[Comment]
    promoter_comments: list[Comment]
    segments: dict[str, int]

    @property
    def week_end(self) -> datetime:
        return self.week_start + timedelta(days=6)

    @property
    def change(self) -> float | None:
        now, before = self.this_week.score, self.previous_week.score
        if now is None or before is None:
            return None
        return round1(now - before)

    def chart_data(self) -> dict[str, Any]:
        return {
            "weeks": [
                {
                    "label": b.start.date().isoformat(),
                    "nps": round1(b.summary.score),
                    "moe": round1(b.summary.moe),
                    "n": b.summary.n,
                }
                for b in self.trend
            ]
        }


def build_weekly_summary(
    session: Session, week_of: date, config: ScoringConfig, account_id: int | None = None
) -> WeeklySummary:
    zone = config.zone
    week_start = bucket_start(day_start(week_of, zone), "week", zone)
    week = Filters(week_start, next_bucket_start(week_start, "week"), account_id)
    trend_start = week_start - timedelta(weeks=DEFAULT_WEEKS - 1)
    trend = nps_over_range(
        session, start=trend_start, end=week.end, account_id=account_id, zone=zone
    ).buckets
    csat_responses = responses_in_range(
        session, start=week.start, end=week.end, kind="csat", account_id=account_id
    )
    return WeeklySummary(
        week_start=week_start,
        this_week=trend[-1].summary,
        previous_week=trend[-2].summary,
        trend=trend,
        csat=csat_summary(
            csat_responses,
            start=week.start,
            now=week.end - timedelta(microseconds=1),
            config=config,
        ),
        rnps=reverse_nps(_ratings_in_range(session, week)),
        detractor_comments=latest_comments(session, week, "detractor"),
        promoter_comments=latest_comments(session, week, "promoter", limit=4),
        segments=segment_counts(session, account_id),
    )
