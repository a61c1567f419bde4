"""What validating one input item costs: ResponseIn and RatingIn, microseconds per item.

Every response of a ``POST /api/v1/responses`` batch and every row of ``cx360 import`` is
loaded once through ``ResponseIn`` (ratings through ``RatingIn``); this measures that load
alone, on one core, for typical items (kind, score, email, account_domain, an ISO timestamp,
source, external_id, comment; a rating with employee, both scores, email, timestamp).

Each round loads ``--items`` distinct items one by one (as the import does, and as the batch
schema does per item) and, for comparison, the same items as batches of 1,000 through
``ResponseBatchIn``/``RatingBatchIn`` (what the API's request body goes through) and a
baseline: marshmallow loading the same keys into plain ``Raw`` fields (no rules at all). The
figure is the median over ``--rounds`` rounds, timed with ``time.perf_counter``; rounds
alternate between the schemas so that a busy moment of a shared machine hits all of them.

    .venv/bin/python bench/validation_speed.py [--items 20000] [--rounds 7] [--profile]

Target (issue 8): at most 20 microseconds per item for ResponseIn and for RatingIn.
``--profile`` prints the top functions of loading the responses once.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from _harness import BASE_TIME, finish, iso, median
from marshmallow import Schema, fields

from connector.api.schemas import RatingBatchIn, RatingIn, ResponseBatchIn, ResponseIn

TARGET_MICROSECONDS = 20.0
BATCH = 1000
COMMENTS = ["Great support", "Too slow", "Missing the export we need", "Fine", ""]


def responses(count: int) -> list[dict[str, Any]]:
    """Typical survey responses, each different (as a real batch is)."""
    return [
        {
            "kind": "nps" if n % 5 else "csat",
            "score": n % 11 if n % 5 else 1 + n % 5,
            "email": f"Person{n}@Company{n % 500}.example",
            "account_domain": f"company{n % 500}.example",
            "answered_at": iso(BASE_TIME + timedelta(minutes=n)),
            "source": "survey-tool",
            "external_id": f"resp-{n}",
            "comment": COMMENTS[n % len(COMMENTS)],
        }
        for n in range(count)
    ]


def ratings(count: int) -> list[dict[str, Any]]:
    """Typical employee ratings, each different."""
    return [
        {
            "employee": f"rep{n % 40}@seller.example",
            "email": f"person{n}@company{n % 500}.example",
            "relationship": n % 11,
            "potential": (n * 7) % 11,
            "rated_at": iso(BASE_TIME + timedelta(minutes=n)),
            "comment": COMMENTS[n % len(COMMENTS)],
            "source": "form",
            "external_id": f"rating-{n}",
        }
        for n in range(count)
    ]


def baseline_schema(keys: list[str]) -> Schema:
    """The same keys as plain Raw fields: what marshmallow costs before any rule."""
    return Schema.from_dict({key: fields.Raw(load_default=None) for key in keys})()


def one_by_one(schema: Schema, items: list[dict[str, Any]]) -> float:
    """Microseconds per item, loading each item on its own."""
    load = schema.load
    started = time.perf_counter()
    for item in items:
        load(item)
    return (time.perf_counter() - started) / len(items) * 1e6


def in_batches(schema: Schema, key: str, items: list[dict[str, Any]]) -> float:
    """Microseconds per item, loading request bodies of ``BATCH`` items."""
    bodies = [{key: items[i : i + BATCH]} for i in range(0, len(items), BATCH)]
    started = time.perf_counter()
    for body in bodies:
        schema.load(body)
    return (time.perf_counter() - started) / len(items) * 1e6


def measure(count: int, rounds: int) -> dict[str, list[float]]:
    response_items, rating_items = responses(count), ratings(count)
    cases: dict[str, Callable[[], float]] = {
        "ResponseIn": lambda: one_by_one(ResponseIn(), response_items),
        "RatingIn": lambda: one_by_one(RatingIn(), rating_items),
        "ResponseBatchIn": lambda: in_batches(ResponseBatchIn(), "responses", response_items),
        "RatingBatchIn": lambda: in_batches(RatingBatchIn(), "ratings", rating_items),
        "baseline": lambda: one_by_one(baseline_schema(list(response_items[0])), response_items),
    }
    for check in (
        ResponseIn(many=True).load(response_items),
        RatingIn(many=True).load(rating_items),
    ):
        assert len(check) == count  # every generated item is valid
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, run in cases.items():
            samples[name].append(run())
    return samples


def profile(count: int) -> None:
    schema, items = ResponseIn(), responses(count)
    profiler = cProfile.Profile()
    profiler.enable()
    for item in items:
        schema.load(item)
    profiler.disable()
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    samples = measure(args.items, args.rounds)
    print(f"{args.items:,} items per round, {args.rounds} rounds, one core; microseconds per item")
    labels = {
        "ResponseIn": "ResponseIn.load, one item at a time",
        "RatingIn": "RatingIn.load, one item at a time",
        "ResponseBatchIn": f"ResponseBatchIn.load, {BATCH:,} per body",
        "RatingBatchIn": f"RatingBatchIn.load, {BATCH:,} per body",
        "baseline": "baseline: same keys, Raw fields",
    }
    medians = {name: median(values) for name, values in samples.items()}
    for name, values in samples.items():
        spread = " ".join(f"{value:.1f}" for value in values)
        print(f"  {labels[name]:40} median {medians[name]:6.1f} us  (rounds: {spread})")
    if args.profile:
        profile(args.items)
    return finish(
        [
            (
                medians[name] <= TARGET_MICROSECONDS,
                f"{name}: {medians[name]:.1f} us per item (target <= {TARGET_MICROSECONDS:.0f})",
            )
            for name in ("ResponseIn", "RatingIn")
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
