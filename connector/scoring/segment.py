"""The 360 segment: the customer's view and the staff's view combined; first rule wins.

1. ``at_risk``  - customer NPS category is detractor.
2. ``untapped`` - potential mean >= ``segment_potential_min`` and reverse-NPS category
   detractor (high potential, strained relationship).
3. ``champion`` - customer promoter and reverse-NPS category promoter.
4. ``nurture``  - potential mean >= ``segment_potential_min``.
5. ``maintain`` - anything else with data on either side.
None with no data on either side. The two sides are the customer NPS category and the
employee ratings; CSAT answers alone do not place a customer in a segment (no rule reads
them, and "maintain" would claim a picture cx360 does not have).

For a contact the customer category is ``nps.category`` (its latest answer ever); for an
account it is the band of the unrounded mean of its contacts' latest NPS scores in the window.
Thresholds apply to unrounded means.
"""

from __future__ import annotations

from connector.scoring.model import DEFAULT_CONFIG, ScoringConfig
from connector.scoring.reverse import ReverseNpsSummary


def segment(
    customer_category: str | None,
    reverse: ReverseNpsSummary | None,
    config: ScoringConfig = DEFAULT_CONFIG,
) -> str | None:
    """The first matching segment rule, or None when neither side has data."""
    if customer_category is None and reverse is None:
        return None
    high_potential = reverse is not None and reverse.potential_avg >= config.segment_potential_min
    staff_category = reverse.category if reverse is not None else None
    if customer_category == "detractor":
        return "at_risk"
    if high_potential and staff_category == "detractor":
        return "untapped"
    if customer_category == "promoter" and staff_category == "promoter":
        return "champion"
    if high_potential:
        return "nurture"
    return "maintain"
