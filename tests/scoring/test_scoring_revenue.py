"""The revenue view's definitions (issue #22): table cases and hypothesis properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.scoring import account_scorecard
from connector.scoring.revenue import (
    RevenueEntry,
    revenue_metrics,
    revenue_status,
    revenue_view,
    without_signal,
)
from tests.scoring.scoring_builders import days_ago, nps

FAST = settings(max_examples=300, deadline=None)


def entry(
    account: str, amount: str | None, currency: str | None, nps: float | None
) -> RevenueEntry:
    return RevenueEntry(account, Decimal(amount) if amount is not None else None, currency, nps)


@pytest.mark.parametrize(
    ("amount", "nps", "status"),
    [
        ("1000", -0.04, "at_risk"),  # unrounded NPS decides: shows as 0.0, is below 0
        ("1000", -100.0, "at_risk"),
        ("1000", 0.0, "safe"),
        ("1000", 100.0, "safe"),
        ("1000", None, "no_signal"),
        ("0", None, None),  # no revenue: no status
        ("0", -50.0, None),
        ("-20", 10.0, None),  # credits outweigh sales: no revenue
        (None, -50.0, None),  # unknown amount (mixed currencies)
    ],
)
def test_status_of_an_account_follows_its_nps_only_with_revenue(
    amount: str | None, nps: float | None, status: str | None
) -> None:
    assert revenue_status(Decimal(amount) if amount else None, nps) == status


def test_metrics_carry_two_decimals_and_the_currency_only_beside_a_known_amount() -> None:
    assert revenue_metrics(Decimal("1234.567"), "EUR", 12.5) == {
        "revenue.amount": 1234.57,
        "revenue.currency": "EUR",
        "revenue.status": "safe",
    }
    assert revenue_metrics(None, "EUR", 12.5) == dict.fromkeys(
        ("revenue.amount", "revenue.currency", "revenue.status")
    )


def test_hand_computed_portfolio_in_one_currency() -> None:
    # a: 60,000 at NPS -20 (at risk); b: 30,000 at NPS 50 (safe); c: 10,000 without answers;
    # d: no revenue at NPS 100 (never counts).
    view = revenue_view(
        [
            entry("a", "60000", "EUR", -20.0),
            entry("b", "30000", "EUR", 50.0),
            entry("c", "10000", "EUR", None),
            entry("d", "0", "EUR", 100.0),
        ]
    )
    (eur,) = view.portfolios
    assert eur.currency == "EUR"
    assert eur.accounts == 3
    assert eur.revenue == Decimal("100000")
    assert eur.revenue_at_risk == Decimal("60000")
    assert eur.revenue_without_signal == Decimal("10000")
    # (60000 * -20 + 30000 * 50) / 90000 = 300000 / 90000
    assert eur.weighted_nps == pytest.approx(10 / 3)
    assert eur.coverage_pct == 90.0
    assert (eur.at_risk, eur.safe, eur.no_signal) == (1, 1, 1)


def test_currencies_are_separate_portfolios_and_unknown_ones_are_counted() -> None:
    view = revenue_view(
        [
            entry("a", "100", "EUR", 10.0),
            entry("b", "1000000", "USD", -90.0),
            entry("c", "500", None, 10.0),
            entry("d", None, None, 10.0),
        ]
    )
    by = view.by_currency()
    assert sorted(by) == ["EUR", "USD"]
    assert by["EUR"].revenue == Decimal("100") and by["EUR"].weighted_nps == 10.0
    assert by["USD"].revenue_at_risk == Decimal("1000000")
    assert (view.unknown_currency, view.unknown_amount) == (1, 1)


def test_without_feedback_weighted_nps_is_null_and_coverage_zero() -> None:
    (eur,) = revenue_view([entry("a", "10", "EUR", None)]).portfolios
    assert eur.weighted_nps is None
    assert eur.coverage_pct == 0.0
    assert revenue_view([]).portfolios == ()


def test_revenue_without_signal_list_is_largest_first() -> None:
    listed = without_signal(
        [
            entry("small", "10", "EUR", None),
            entry("big", "900", "EUR", None),
            entry("tie", "10", "EUR", None),
            entry("heard", "5000", "EUR", 10.0),
            entry("none", "0", "EUR", None),
        ]
    )
    assert [e.account for e in listed] == ["big", "small", "tie"]


@pytest.mark.parametrize(
    ("nps", "amount", "problem"),
    [(100.5, "1", "outside -100..100"), (None, "NaN", "not a number")],
)
def test_bad_values_are_refused_naming_the_account(
    nps: float | None, amount: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=f"'acme'.*{problem}"):
        RevenueEntry("acme", Decimal(amount), "EUR", nps)


amounts = st.one_of(
    st.none(),
    st.decimals(min_value=-1000, max_value=10**9, places=2, allow_nan=False, allow_infinity=False),
)
entries = st.lists(
    st.builds(
        RevenueEntry,
        st.text("abcdef", min_size=1, max_size=3),
        amounts,
        st.sampled_from([None, "EUR", "USD", "CHF"]),
        st.one_of(st.none(), st.floats(-100, 100, allow_nan=False)),
    ),
    max_size=30,
)


@FAST
@given(entries)
def test_weighted_nps_stays_in_range_and_coverage_is_a_percentage(
    given: list[RevenueEntry],
) -> None:
    for portfolio in revenue_view(given).portfolios:
        if portfolio.weighted_nps is not None:
            assert -100 <= portfolio.weighted_nps <= 100
        assert portfolio.coverage_pct is not None
        assert 0 <= portfolio.coverage_pct <= 100
        assert portfolio.revenue_at_risk + portfolio.revenue_without_signal <= portfolio.revenue


@FAST
@given(entries)
def test_mixed_currencies_are_never_summed(given: list[RevenueEntry]) -> None:
    view = revenue_view(given)
    for portfolio in view.portfolios:
        own = [e for e in given if e.currency == portfolio.currency and e.has_revenue]
        assert portfolio.revenue == sum((e.amount or 0 for e in own), Decimal(0))
        assert portfolio.accounts == len(own)


@FAST
@given(
    entries,
    entries.map(
        lambda es: [
            RevenueEntry(
                e.account, Decimal(0) if e.amount is None else -abs(e.amount), e.currency, e.nps
            )
            for e in es
        ]
    ),
)
def test_an_account_without_revenue_never_counts(
    given: list[RevenueEntry], without_revenue: list[RevenueEntry]
) -> None:
    assert revenue_view(given + without_revenue) == revenue_view(given)
    assert without_signal(given + without_revenue) == without_signal(given)


@FAST
@given(entries, st.randoms())
def test_order_of_the_accounts_does_not_matter(given: list[RevenueEntry], rnd) -> None:
    shuffled = list(given)
    rnd.shuffle(shuffled)
    a, b = revenue_view(given), revenue_view(shuffled)
    assert a.unknown_amount == b.unknown_amount
    for x, y in zip(a.portfolios, b.portfolios, strict=True):
        assert x.revenue == y.revenue and x.revenue_at_risk == y.revenue_at_risk
        assert (x.weighted_nps is None) == (y.weighted_nps is None)
        if x.weighted_nps is not None and y.weighted_nps is not None:
            assert x.weighted_nps == pytest.approx(y.weighted_nps, abs=1e-9)


@pytest.mark.parametrize(
    ("contacts", "status"),
    [
        # 2 promoters, 2 passives, 3 detractors: NPS -100/7 = -14.3.
        ({"a": [9], "b": [10], "c": [7], "d": [8], "e": [0], "f": [3], "g": [6]}, "at_risk"),
        ({"a": [9], "b": [0]}, "safe"),  # NPS exactly 0
        ({}, "no_signal"),
    ],
)
def test_given_account_revenue_when_scoring_then_status_from_the_unrounded_account_nps(
    contacts: dict[str, list[int]], status: str
) -> None:
    answers = {key: [nps(score, days_ago(10), contact=key) for score in scores]
               for key, scores in contacts.items()}  # fmt: skip
    card = account_scorecard(
        answers, [], now=days_ago(0), revenue_amount=Decimal("5000.005"), revenue_currency="EUR"
    )
    assert card["revenue.amount"] == 5000.01
    assert card["revenue.currency"] == "EUR"
    assert card["revenue.status"] == status


def test_given_an_answer_older_than_the_window_when_scoring_then_no_signal() -> None:
    card = account_scorecard(
        {"a": [nps(0, days_ago(400), contact="a")]}, [], now=days_ago(0),
        revenue_amount=Decimal(10), revenue_currency="USD",
    )  # fmt: skip
    assert card["nps.score"] is None
    assert card["revenue.status"] == "no_signal"


def test_given_no_revenue_when_scoring_then_revenue_metrics_are_null() -> None:
    card = account_scorecard({"a": [nps(0, days_ago(1), contact="a")]}, [], now=days_ago(0))
    assert [card[k] for k in ("revenue.amount", "revenue.currency", "revenue.status")] == [
        None, None, None,
    ]  # fmt: skip
