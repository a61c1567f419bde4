"""The revenue view: what the feedback is worth (issue #22). Plain values in, plain values out.

Definitions (exact; the README repeats them):

- Window: the same ``CX360_WINDOW_DAYS`` (``ScoringConfig.window_days``, default 365) as the
  account roll-ups. Revenue is read for that window and the account NPS is that window's NPS.
- Revenue R(a) of an account: the sum of its closed-won deals (HubSpot) / opportunities
  (Salesforce) whose close date is in the window, in the CRM's company / corporate currency,
  with the currency code beside every figure. Amounts of different currencies are never added
  up: where the CRM cannot give one currency the amount is null (``RevenueEntry.amount`` None).
- An account "has revenue" when R(a) is known and greater than 0. An account without revenue
  (no won deal in the window, a sum of 0 or less, or an unknown amount) never counts in any
  portfolio figure and has no ``revenue.status``.
- Account status (``revenue.status``), for an account with revenue:
  ``at_risk`` - account NPS < 0; ``safe`` - account NPS >= 0; ``no_signal`` - no NPS answer in
  the window. The unrounded NPS decides (an NPS of -0.04 is at risk although it shows as 0.0).
- Portfolio figures, per currency (never summed across currencies), over the accounts with
  revenue in that currency:

  - revenue-weighted NPS = Σ R·NPS / Σ R over the accounts with feedback (null when none);
  - revenue at risk = Σ R of the ``at_risk`` accounts;
  - revenue without signal = Σ R of the ``no_signal`` accounts;
  - coverage = 100 · (revenue with feedback) / (all revenue), in percent (null when no revenue).

  Accounts whose amount is known but whose currency is not are left out and counted
  (``RevenueView.unknown_currency``); so are accounts with revenue of unknown amount
  (``RevenueView.unknown_amount``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

REVENUE_STATUSES: tuple[str, ...] = ("at_risk", "safe", "no_signal")

_ZERO = Decimal(0)
_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class RevenueEntry:
    """One account's revenue in the window and its account NPS (unrounded; None: no NPS
    answer in the window). ``amount`` None: unknown (no deal read, or mixed currencies)."""

    account: str
    amount: Decimal | None
    currency: str | None
    nps: float | None

    def __post_init__(self) -> None:
        if self.nps is not None and not -100 <= self.nps <= 100:
            raise ValueError(f"account {self.account!r}: NPS {self.nps!r} is outside -100..100")
        if self.amount is not None and not self.amount.is_finite():
            raise ValueError(f"account {self.account!r}: amount {self.amount!r} is not a number")

    @property
    def has_revenue(self) -> bool:
        return self.amount is not None and self.amount > 0


def revenue_status(amount: Decimal | None, nps: float | None) -> str | None:
    """``at_risk`` / ``safe`` / ``no_signal`` for an account with revenue, else None."""
    if amount is None or amount <= 0:
        return None
    if nps is None:
        return "no_signal"
    return "at_risk" if nps < 0 else "safe"


def revenue_metrics(
    amount: Decimal | None, currency: str | None, nps: float | None
) -> dict[str, Any]:
    """The account metrics ``revenue.amount`` (two decimals, half away from zero, JSON-ready),
    ``revenue.currency`` (the ISO code beside it) and ``revenue.status``. The currency is
    written only with a known amount: a code beside an empty figure would tell a report the
    wrong thing."""
    known = amount is not None
    return {
        "revenue.amount": float(amount.quantize(_CENT, rounding=ROUND_HALF_UP))
        if amount is not None
        else None,
        "revenue.currency": currency if known else None,
        "revenue.status": revenue_status(amount, nps),
    }


@dataclass(frozen=True, slots=True)
class RevenuePortfolio:
    """The portfolio figures of the accounts with revenue in one currency."""

    currency: str
    accounts: int
    revenue: Decimal
    revenue_with_feedback: Decimal
    revenue_at_risk: Decimal
    revenue_without_signal: Decimal
    weighted_nps: float | None
    coverage_pct: float | None
    at_risk: int
    safe: int
    no_signal: int


@dataclass(frozen=True, slots=True)
class RevenueView:
    """One portfolio per currency (sorted by code) and what was left out, with counts."""

    portfolios: tuple[RevenuePortfolio, ...]
    unknown_currency: int
    unknown_amount: int

    def by_currency(self) -> Mapping[str, RevenuePortfolio]:
        return {p.currency: p for p in self.portfolios}


def _portfolio(currency: str, entries: list[RevenueEntry]) -> RevenuePortfolio:
    statuses: dict[str, list[RevenueEntry]] = defaultdict(list)
    for entry in entries:
        statuses[revenue_status(entry.amount, entry.nps) or ""].append(entry)
    revenue = sum((e.amount or _ZERO for e in entries), _ZERO)
    with_feedback = [e for e in entries if e.nps is not None]
    feedback_revenue = sum((e.amount or _ZERO for e in with_feedback), _ZERO)
    weighted = (
        float(
            sum((e.amount or _ZERO) * Decimal(repr(e.nps)) for e in with_feedback)
            / feedback_revenue
        )
        if with_feedback
        else None
    )
    return RevenuePortfolio(
        currency=currency,
        accounts=len(entries),
        revenue=revenue,
        revenue_with_feedback=feedback_revenue,
        revenue_at_risk=sum((e.amount or _ZERO for e in statuses["at_risk"]), _ZERO),
        revenue_without_signal=sum((e.amount or _ZERO for e in statuses["no_signal"]), _ZERO),
        weighted_nps=weighted,
        coverage_pct=float(100 * feedback_revenue / revenue) if revenue > 0 else None,
        at_risk=len(statuses["at_risk"]),
        safe=len(statuses["safe"]),
        no_signal=len(statuses["no_signal"]),
    )


def revenue_view(entries: Iterable[RevenueEntry]) -> RevenueView:
    """The portfolio figures of ``entries`` (see the module docstring), one per currency."""
    by_currency: dict[str, list[RevenueEntry]] = defaultdict(list)
    unknown_currency = unknown_amount = 0
    for entry in entries:
        if entry.amount is None:
            unknown_amount += 1
        elif not entry.has_revenue:
            continue
        elif not entry.currency:
            unknown_currency += 1
        else:
            by_currency[entry.currency].append(entry)
    return RevenueView(
        portfolios=tuple(_portfolio(c, by_currency[c]) for c in sorted(by_currency)),
        unknown_currency=unknown_currency,
        unknown_amount=unknown_amount,
    )


def without_signal(entries: Iterable[RevenueEntry]) -> list[RevenueEntry]:
    """The ``no_signal`` accounts, largest revenue first (ties: by account key), for the
    "revenue without signal" list."""
    found = [e for e in entries if revenue_status(e.amount, e.nps) == "no_signal"]
    return sorted(found, key=lambda e: (-(e.amount or _ZERO), e.account))
