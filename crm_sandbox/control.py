"""Everything about a request that is not the data: tokens, rate limits, faults, counts.

One ``Controls`` object is shared by both CRM surfaces and the admin API. It has its own lock,
held only for a few dictionary updates, so counting never waits on the data lock.
"""

from __future__ import annotations

import collections
import random
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from crm_sandbox import signin

CRMS = ("hubspot", "salesforce")

# What "off" reports in the HubSpot headers: effectively unlimited, but still a number
# clients can parse.
UNLIMITED = 1_000_000
HUBSPOT_INTERVAL_MS = 10_000
DAY_SECONDS = 86_400


@dataclass
class Faults:
    """Injected faults for one CRM surface. All default to off."""

    latency_ms: float = 0.0
    error_rate: float = 0.0  # share of requests answered with ``error_status`` (0..1)
    error_status: int = 500
    burst_429: int = 0  # HubSpot: the next N requests get 429 TEN_SECONDLY_ROLLING
    lock_row_burst: int = 0  # Salesforce: the next N writes fail with UNABLE_TO_LOCK_ROW
    outage_until: float | None = None  # epoch seconds; every request 503 until then
    outage: bool = False  # 503 until cleared
    search_delay_ms: float = 0.0  # HubSpot: new writes appear in search only after this
    # The call to this endpoint (e.g. "tasks.batch_create") is applied, then its reply held
    # this long, or until the fault is cleared: a client that dies or times out meanwhile
    # never learns what the CRM did.
    hold_reply_ms: float = 0.0
    hold_reply_endpoint: str = ""
    hold_reply_count: int = 0  # only the first N calls to it are held (0: every call)
    hold_reply_taken: int = 0  # how many were held

    def holds(self, endpoint: str) -> bool:
        return bool(self.hold_reply_ms) and endpoint == self.hold_reply_endpoint

    def in_outage(self, now: float) -> bool:
        return self.outage or (self.outage_until is not None and now < self.outage_until)


@dataclass
class Limits:
    hubspot_ten_second: int | None = None
    hubspot_daily: int | None = None
    # the CRM search endpoints have their own per-second limit per account, on top of the
    # general ones (developers.hubspot.com/changelog/crm-search-api-rate-limit-increase)
    hubspot_search_per_second: int | None = None
    salesforce_daily: int = 15_000


#: What every HubSpot token holds unless the sandbox is told otherwise (``set_credentials``):
#: the scopes a HubSpot private app can tick (names as HubSpot's scopes reference spells them).
HUBSPOT_SCOPES = (
    "oauth",
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.companies.read",
    "crm.objects.companies.write",
    "crm.objects.deals.read",
    "crm.objects.deals.write",
    "crm.objects.owners.read",
    "crm.schemas.contacts.read",
    "crm.schemas.contacts.write",
    "crm.schemas.companies.read",
    "crm.schemas.companies.write",
)


@dataclass
class Credentials:
    hubspot_access_token: str = "sandbox-hubspot-token"
    hubspot_client_id: str = "sandbox-hubspot-client"
    hubspot_client_secret: str = "sandbox-hubspot-secret"
    hubspot_refresh_token: str = "sandbox-hubspot-refresh"
    salesforce_client_id: str = "sandbox-client"
    salesforce_client_secret: str = "sandbox-secret"
    salesforce_username: str = "cx360@sandbox.example.com"
    salesforce_jwt_public_key: str = ""  # PEM certificate or public key
    #: The connection's identity: the HubSpot portal (hub) id and the Salesforce org id. Two
    #: sandboxes with different ids stand for two portals / orgs.
    hubspot_portal_id: int = signin.HUBSPOT_PORTAL_ID
    #: The scopes every HubSpot token of the sandbox holds (the private app's, and the
    #: access tokens issued for the refresh token); calls outside them answer 403.
    hubspot_scopes: list[str] = field(default_factory=lambda: list(HUBSPOT_SCOPES))
    salesforce_org_id: str = signin.SALESFORCE_ORG_ID
    #: Whether the run-as user holds "Assign Permission Sets" (else creating a
    #: PermissionSetAssignment is refused with INSUFFICIENT_ACCESS_OR_READONLY).
    salesforce_assign_permission_sets: bool = True


@dataclass
class _Token:
    crm: str
    issued_at: float
    expires_at: float | None = None


@dataclass
class _Usage:
    hubspot_window: collections.deque[float] = field(default_factory=collections.deque)
    hubspot_day_start: float = 0.0
    hubspot_day_count: int = 0
    hubspot_search_window: collections.deque[float] = field(default_factory=collections.deque)
    salesforce_used: int = 0


class Controls:
    def __init__(
        self,
        limits: Limits | None = None,
        credentials: Credentials | None = None,
        seed: int = 360,
    ) -> None:
        self._lock = threading.Lock()
        self._initial_limits = limits or Limits()
        self.limits = Limits(**asdict(self._initial_limits))
        self.credentials = credentials or Credentials()
        self._initial_scopes = list(self.credentials.hubspot_scopes)
        self.faults: dict[str, Faults] = {crm: Faults() for crm in CRMS}
        self._rng = random.Random(seed)
        self._seed = seed
        self._tokens: dict[str, _Token] = {}
        self._expired_before: dict[str, float] = {crm: 0.0 for crm in CRMS}
        self._started = time.time()
        self._usage = _Usage(hubspot_day_start=time.time())
        self._counts: collections.Counter[str] = collections.Counter()
        self._status_counts: dict[str, collections.Counter[int]] = {
            crm: collections.Counter() for crm in CRMS
        }
        self._handling_ms: dict[str, float] = collections.defaultdict(float)

    # ----------------------------------------------------------------- reset / configure
    def reset(self) -> None:
        """Back to the start configuration: no faults, no usage, no counts, sessions valid,
        the HubSpot tokens' scopes and the Salesforce user's rights as at the start."""
        with self._lock:
            self.credentials.salesforce_assign_permission_sets = True
            self.limits = Limits(**asdict(self._initial_limits))
            self.faults = {crm: Faults() for crm in CRMS}
            self._rng = random.Random(self._seed)
            self._expired_before = {crm: 0.0 for crm in CRMS}
            self.credentials.hubspot_scopes = list(self._initial_scopes)
            self._usage = _Usage(hubspot_day_start=time.time())
            self._counts.clear()
            self._handling_ms.clear()
            for counter in self._status_counts.values():
                counter.clear()

    def reset_stats(self) -> None:
        with self._lock:
            self._counts.clear()
            self._handling_ms.clear()
            for counter in self._status_counts.values():
                counter.clear()

    def set_faults(self, crm: str, clear: bool = False, **values: Any) -> dict[str, Any]:
        names = {f.name for f in fields(Faults)}
        unknown = set(values) - names - {"outage_seconds"}
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
        targets = CRMS if crm == "both" else (crm,)
        if any(target not in CRMS for target in targets):
            raise ValueError(f"crm must be hubspot, salesforce or both, not {crm!r}")
        with self._lock:
            for target in targets:
                current = Faults() if clear else self.faults[target]
                for name, value in values.items():
                    if name == "outage_seconds":
                        current.outage_until = None if value is None else time.time() + value
                    else:
                        setattr(current, name, value)
                if not 0.0 <= current.error_rate <= 1.0:
                    raise ValueError("error_rate must be between 0 and 1")
                self.faults[target] = current
            return {target: asdict(self.faults[target]) for target in CRMS}

    def set_limits(self, reset_usage: bool = False, **values: Any) -> dict[str, Any]:
        names = {f.name for f in fields(Limits)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown limit setting(s): {', '.join(sorted(unknown))}")
        with self._lock:
            for name, value in values.items():
                setattr(self.limits, name, value)
            if reset_usage:
                self._usage = _Usage(hubspot_day_start=time.time())
            return asdict(self.limits)

    def set_credentials(self, **values: Any) -> dict[str, Any]:
        names = {f.name for f in fields(Credentials)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown credential setting(s): {', '.join(sorted(unknown))}")
        with self._lock:
            for name, value in values.items():
                setattr(self.credentials, name, value)
            return {k: v for k, v in asdict(self.credentials).items() if "public_key" not in k}

    # ----------------------------------------------------------------------- tokens
    def issue_token(self, crm: str, lifetime: float | None = None) -> str:
        token = ("00D5g000004sBox!" if crm == "salesforce" else "sbx-") + secrets.token_urlsafe(24)
        now = time.time()
        with self._lock:
            self._tokens[token] = _Token(crm, now, None if lifetime is None else now + lifetime)
        return token

    def check_token(self, crm: str, token: str) -> str:
        """``"ok"``, ``"expired"`` or ``"invalid"`` for a bearer token on a surface."""
        now = time.time()
        with self._lock:
            if crm == "hubspot" and token == self.credentials.hubspot_access_token:
                issued = self._started
            else:
                known = self._tokens.get(token)
                if known is None or known.crm != crm:
                    return "invalid"
                if known.expires_at is not None and now >= known.expires_at:
                    return "expired"
                issued = known.issued_at
            return "expired" if issued < self._expired_before[crm] else "ok"

    def expire_sessions(self, crm: str = "both") -> None:
        """Every token issued so far (and the static HubSpot token) stops working."""
        now = time.time()
        with self._lock:
            for target in CRMS if crm == "both" else (crm,):
                self._expired_before[target] = now
            # tokens issued in this same instant must count as new, so nudge the cutoff
        time.sleep(0.002)

    # ---------------------------------------------------------------- fault decisions
    def roll_error(self, crm: str) -> bool:
        with self._lock:
            rate = self.faults[crm].error_rate
            return rate > 0 and self._rng.random() < rate

    def take_hold(self, crm: str) -> bool:
        """Whether this call's reply is held (the ``hold_reply_*`` faults): every one, or
        the first ``hold_reply_count``."""
        with self._lock:
            faults = self.faults[crm]
            if faults.hold_reply_count and faults.hold_reply_taken >= faults.hold_reply_count:
                return False
            faults.hold_reply_taken += 1
            return True

    def take_burst(self, crm: str, name: str) -> bool:
        with self._lock:
            faults = self.faults[crm]
            remaining = getattr(faults, name)
            if remaining <= 0:
                return False
            setattr(faults, name, remaining - 1)
            return True

    # ------------------------------------------------------------------ rate limits
    def hubspot_admit(self, search: bool = False) -> tuple[str | None, dict[str, str]]:
        """Count one HubSpot request (``search``: one to a CRM search endpoint); returns
        (policy violated or None, rate-limit headers)."""
        now = time.time()
        with self._lock:
            usage, limits = self._usage, self.limits
            window = usage.hubspot_window
            while window and window[0] <= now - HUBSPOT_INTERVAL_MS / 1000:
                window.popleft()
            searches = usage.hubspot_search_window
            while searches and searches[0] <= now - 1:
                searches.popleft()
            search_max = limits.hubspot_search_per_second
            if now - usage.hubspot_day_start >= DAY_SECONDS:
                usage.hubspot_day_start, usage.hubspot_day_count = now, 0
            ten_max = limits.hubspot_ten_second or UNLIMITED
            day_max = limits.hubspot_daily or UNLIMITED
            violated: str | None = None
            if limits.hubspot_daily is not None and usage.hubspot_day_count >= day_max:
                violated = "DAILY"
            elif limits.hubspot_ten_second is not None and len(window) >= ten_max:
                violated = "TEN_SECONDLY_ROLLING"
            elif search and search_max is not None and len(searches) >= search_max:
                violated = "SECONDLY"
            else:
                window.append(now)
                usage.hubspot_day_count += 1
                if search:
                    searches.append(now)
            headers = {
                "X-HubSpot-RateLimit-Max": str(ten_max),
                "X-HubSpot-RateLimit-Remaining": str(max(0, ten_max - len(window))),
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(HUBSPOT_INTERVAL_MS),
                "X-HubSpot-RateLimit-Daily": str(day_max),
                "X-HubSpot-RateLimit-Daily-Remaining": str(
                    max(0, day_max - usage.hubspot_day_count)
                ),
            }
            return violated, headers

    def hubspot_headers(self) -> dict[str, str]:
        now = time.time()
        with self._lock:
            window = self._usage.hubspot_window
            in_window = sum(1 for t in window if t > now - HUBSPOT_INTERVAL_MS / 1000)
            ten_max = self.limits.hubspot_ten_second or UNLIMITED
            day_max = self.limits.hubspot_daily or UNLIMITED
            return {
                "X-HubSpot-RateLimit-Max": str(ten_max),
                "X-HubSpot-RateLimit-Remaining": str(max(0, ten_max - in_window)),
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(HUBSPOT_INTERVAL_MS),
                "X-HubSpot-RateLimit-Daily": str(day_max),
                "X-HubSpot-RateLimit-Daily-Remaining": str(
                    max(0, day_max - self._usage.hubspot_day_count)
                ),
            }

    def salesforce_admit(self) -> bool:
        """Count one Salesforce API request against the daily allocation; False when over."""
        with self._lock:
            if self._usage.salesforce_used >= self.limits.salesforce_daily:
                return False
            self._usage.salesforce_used += 1
            return True

    def salesforce_usage_header(self) -> str:
        with self._lock:
            return f"api-usage={self._usage.salesforce_used}/{self.limits.salesforce_daily}"

    # ------------------------------------------------------------------------ stats
    def record(self, crm: str, endpoint: str, status: int, elapsed_ms: float) -> None:
        with self._lock:
            self._counts[endpoint] += 1
            self._status_counts[crm][status] += 1
            self._handling_ms[endpoint] += elapsed_ms

    def stats(self) -> dict[str, Any]:
        with self._lock:
            per_crm = {
                crm: {
                    "total": sum(self._status_counts[crm].values()),
                    "by_status": {str(k): v for k, v in sorted(self._status_counts[crm].items())},
                }
                for crm in CRMS
            }
            return {
                "endpoints": dict(sorted(self._counts.items())),
                "handling_ms": {k: round(v, 3) for k, v in sorted(self._handling_ms.items())},
                "total": sum(self._counts.values()),
                "hubspot": per_crm["hubspot"],
                "salesforce": per_crm["salesforce"],
                "rate_limited": {
                    "hubspot": self._status_counts["hubspot"][429],
                    "salesforce": self._status_counts["salesforce"][403],
                },
                "salesforce_api_usage": {
                    "used": self._usage.salesforce_used,
                    "limit": self.limits.salesforce_daily,
                },
            }

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "limits": asdict(self.limits),
                "faults": {crm: asdict(f) for crm, f in self.faults.items()},
            }
