"""The REST API: flask-smorest blueprints (documented in OpenAPI) and plain ones.

A new area registers its blueprint in one of these two lists.
"""

from __future__ import annotations

from flask import Blueprint
from flask_smorest import Blueprint as ApiBlueprint

from connector.api.bodies import body_limit_blp
from connector.api.health import health_blp
from connector.api.ingest import ratings_blp, responses_blp
from connector.api.people import people_blp
from connector.api.scorecards import scorecards_blp
from connector.api.stats import stats_blp
from connector.api.syncs import syncs_blp, unmatched_blp

API_BLUEPRINTS: list[ApiBlueprint] = [
    responses_blp,
    ratings_blp,
    scorecards_blp,
    stats_blp,
    syncs_blp,
    unmatched_blp,
    people_blp,
]
PLAIN_BLUEPRINTS: list[Blueprint] = [body_limit_blp, health_blp]
