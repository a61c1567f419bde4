"""The scoring core of cx360: pure functions over plain data.

No Flask, no SQL, no Celery and no clock reads: callers pass the data and ``now``. DESIGN.md
("Definitions (the scoring core; exact)") is the specification; the module docstrings record
the decisions taken where it leaves room:

- ``model``     - ``SurveyResponse``, ``EmployeeRating``, ``ScoringConfig``, what "latest" means.
- ``values``    - ``round1`` (half away from zero), ``band``, ISO date formats.
- ``nps``       - ``nps_summary``, ``population_nps``, ``nps_series``, a contact's history.
- ``csat``      - satisfied share over a window.
- ``reverse``   - reverse NPS from employee ratings.
- ``segment``   - the 360 segment rules.
- ``metrics``   - ``CONTACT_METRICS``, ``ACCOUNT_METRICS``, ``METRIC_SPECS``.
- ``scorecard`` - ``contact_scorecard``, ``account_scorecard``.
- ``revenue``   - revenue status of an account and the portfolio figures per currency.
"""

from connector.scoring.csat import CsatSummary, csat_summary
from connector.scoring.metrics import (
    ACCOUNT_METRICS,
    CONTACT_METRICS,
    METRIC_SPECS,
    METRIC_TYPES,
    MetricSpec,
    MetricType,
)
from connector.scoring.model import (
    CATEGORIES,
    DEFAULT_CONFIG,
    SEGMENTS,
    EmployeeRating,
    ScoringConfig,
    SurveyResponse,
)
from connector.scoring.nps import (
    EARLIEST,
    INTERVALS,
    LATEST,
    MAX_BUCKETS,
    NpsBucket,
    NpsSummary,
    bucket_count,
    bucket_start,
    next_bucket_start,
    nps_from_counts,
    nps_series,
    nps_summary,
    population_nps,
    series_range_problem,
)
from connector.scoring.reverse import ReverseNpsSummary, reverse_nps
from connector.scoring.scorecard import ScoreCard, account_scorecard, contact_scorecard
from connector.scoring.segment import segment
from connector.scoring.values import band, round1

__all__ = [
    "ACCOUNT_METRICS",
    "CATEGORIES",
    "CONTACT_METRICS",
    "DEFAULT_CONFIG",
    "EARLIEST",
    "INTERVALS",
    "LATEST",
    "MAX_BUCKETS",
    "METRIC_SPECS",
    "METRIC_TYPES",
    "SEGMENTS",
    "CsatSummary",
    "EmployeeRating",
    "MetricSpec",
    "MetricType",
    "NpsBucket",
    "NpsSummary",
    "ReverseNpsSummary",
    "ScoreCard",
    "ScoringConfig",
    "SurveyResponse",
    "account_scorecard",
    "band",
    "bucket_count",
    "bucket_start",
    "contact_scorecard",
    "csat_summary",
    "next_bucket_start",
    "nps_from_counts",
    "nps_series",
    "nps_summary",
    "population_nps",
    "reverse_nps",
    "round1",
    "segment",
    "series_range_problem",
]
