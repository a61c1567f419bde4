"""A revenue reading as an adapter returns it (``connector.revenue.RevenueReading``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Reading:
    amount: Decimal | None
    currency: str | None
    deals: int
    note: str | None = None
