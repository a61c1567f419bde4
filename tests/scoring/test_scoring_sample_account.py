"""The shipped sample data, account kessler-soehne.de, against numbers worked out by hand.

now = 2026-11-20T12:00Z (PERIOD_END), window 365 days: from 2025-11-20T12:00Z; every sample row
of this account lies inside it. The sample rows carry no receive time; received = answered.

Contacts' NPS answers (latest in the window marked *):

| contact           | NPS answers in 2026 (MM-DD: score)        | latest | band      |
|-------------------|-------------------------------------------|--------|-----------|
| amelia.zimmermann | 02-05: 10, 05-10: 8, 09-19: 9*            | 9      | promoter  |
| elias.hartmann    | 05-16: 9, 07-14: 6*                       | 6      | detractor |
| moritz.richter    | 02-09: 8, 04-04: 6, 07-21: 8, 08-24: 10*  | 10     | promoter  |
| moritz.wolf       | 09-28: 10, 11-11: 10*                     | 10     | promoter  |
| tom.taylor        | 04-20: 6, 10-07: 9, 10-17: 7, 11-16: 9*   | 9      | promoter  |

N = 5, P = 4, passives = 0, D = 1.
nps.score = 100 * (4 - 1) / 5 = 60.0
nps.moe: p = 0.8, d = 0.2; p + d - (p - d)^2 = 1.0 - 0.36 = 0.64; 0.64 / 5 = 0.128;
         sqrt(0.128) = 0.357771; 1.96 * 100 * 0.357771 = 70.1231 -> 70.1

CSAT answers in the window (all of them count), satisfied = rating >= 4:
amelia 3 | elias 4, 3, 5 | richter 5, 3, 3 | wolf 4, 3, 5  -> 10 answers, satisfied 4, 5, 5, 4, 5
csat.pct = 100 * 5 / 10 = 50.0, csat.responses = 10

Employee ratings (relationship/potential), latest per (employee, subject) marked *:

| subject         | employee     | ratings in 2026 (MM-DD: rel/pot)            | counted |
|-----------------|--------------|---------------------------------------------|---------|
| elias.hartmann  | j.meier      | 05-17: 5/5, 06-10: 7/7*                     | 7/7     |
| moritz.richter  | j.meier      | 08-18: 6/10, 09-19: 8/8*                    | 8/8     |
| tom.taylor      | j.meier      | 08-30: 7/2*                                 | 7/2     |
| tom.taylor      | r.lindqvist  | 10-12: 7/9, 11-18: 7/6*                     | 7/6     |
| tom.taylor      | s.yilmaz     | 06-21: 6/10*                                | 6/10    |

rnps.raters = 5; relationships 7, 8, 7, 7, 6: P = 0, D = 1 (the 6)
rnps.score = 100 * (0 - 1) / 5 = -20.0
rnps.relationship_avg = (7 + 8 + 7 + 7 + 6) / 5 = 35 / 5 = 7.0 -> rnps.category passive
rnps.potential_avg = (7 + 8 + 2 + 6 + 10) / 5 = 33 / 5 = 6.6

Segment: customer side = band of the mean latest score (9 + 6 + 10 + 10 + 9) / 5 = 44 / 5 = 8.8
-> passive. 1. not a detractor; 2. potential 6.6 < 7; 3. customer not a promoter;
4. potential 6.6 < 7; 5. -> maintain.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from connector.sample_data.generate import HERE, PERIOD_END
from connector.scoring import EmployeeRating, SurveyResponse, account_scorecard

ACCOUNT_DOMAIN = "kessler-soehne.de"


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _rows(path: Path) -> list[dict[str, object]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_account(domain: str) -> tuple[dict[str, list[SurveyResponse]], list[EmployeeRating]]:
    contacts: dict[str, list[SurveyResponse]] = defaultdict(list)
    for row in _rows(HERE / "responses.jsonl"):
        if row.get("account_domain") != domain:
            continue
        answered = _when(str(row["answered_at"]))
        email = str(row["email"])
        comment = row.get("comment")
        contacts[email].append(
            SurveyResponse(
                kind=str(row["kind"]),
                score=int(str(row["score"])),
                answered_at=answered,
                received_at=answered,
                comment=None if comment is None else str(comment),
                contact=email,
                touchpoint=str(row.get("touchpoint")),
            )
        )
    ratings = []
    for row in _rows(HERE / "ratings.jsonl"):
        # sample ratings rate contacts, keyed by email; an account rating would carry the domain
        subject = str(row["email"])
        if subject != domain and not subject.endswith("@" + domain):
            continue
        rated = _when(str(row["rated_at"]))
        ratings.append(
            EmployeeRating(
                employee=str(row["employee"]),
                subject=subject,
                relationship=int(str(row["relationship"])),
                potential=int(str(row["potential"])),
                rated_at=rated,
                received_at=rated,
            )
        )
    return dict(contacts), ratings


def test_given_sample_data_when_scoring_kessler_account_then_hand_computed_values() -> None:
    contacts, ratings = load_account(ACCOUNT_DOMAIN)
    assert sorted(contacts) == [
        f"{name}@{ACCOUNT_DOMAIN}"
        for name in (
            "amelia.zimmermann",
            "elias.hartmann",
            "moritz.richter",
            "moritz.wolf",
            "tom.taylor",
        )
    ]
    assert len(ratings) == 8

    assert account_scorecard(contacts, ratings, now=PERIOD_END) == {
        "nps.score": 60.0,
        "nps.moe": 70.1,
        "nps.responses": 5,
        "nps.promoters": 4,
        "nps.passives": 0,
        "nps.detractors": 1,
        "csat.pct": 50.0,
        "csat.responses": 10,
        "rnps.score": -20.0,
        "rnps.category": "passive",
        "rnps.relationship_avg": 7.0,
        "rnps.potential_avg": 6.6,
        "rnps.raters": 5,
        "cx360.segment": "maintain",
        "revenue.amount": None,  # no revenue read for it
        "revenue.currency": None,
        "revenue.status": None,
    }
