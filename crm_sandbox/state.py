"""Everything the sandbox keeps: both CRMs' data, one lock, the controls, seed and persistence."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import json
import os
import threading
from pathlib import Path
from typing import Any

from crm_sandbox.control import Controls
from crm_sandbox.hubspot import HubSpotData
from crm_sandbox.hubspot.schema import ALIASES, iso
from crm_sandbox.salesforce import SalesforceData
from crm_sandbox.salesforce.schema import FieldError

STATE_VERSION = 1
HUBSPOT_OWNERS = ("1001", "1002")
#: The sample deals' stages: (Salesforce StageName, HubSpot dealstage of the default pipeline).
SAMPLE_STAGES = {
    "won": ("Closed Won", "closedwon"),
    "lost": ("Closed Lost", "closedlost"),
    "open": ("Negotiation/Review", "contractsent"),
}


def cx360_sample_data() -> Path:
    """cx360's sample company (``connector/sample_data``): the accounts, and the contacts
    marked ``in_crm=yes``, that the demo's survey responses are about.

    Found beside the installed ``connector`` package without importing it: the sandbox stands
    in for a vendor's CRM and runs no cx360 code, it only starts with the same customers.
    """
    spec = importlib.util.find_spec("connector")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("cx360 (the connector package) is not installed: no seed data")
    return Path(next(iter(spec.submodule_search_locations))) / "sample_data"


class SandboxState:
    def __init__(self, controls: Controls) -> None:
        self.lock = threading.RLock()
        self.controls = controls
        self.salesforce = SalesforceData()
        self.hubspot = HubSpotData()
        self._generated = {"salesforce": 0, "hubspot": 0}

    # ---------------------------------------------------------------------- seed
    def reset(self, seed: bool = True) -> None:
        with self.lock:
            self.salesforce.clear()
            self.hubspot.clear()
            self._generated = {"salesforce": 0, "hubspot": 0}
            self._seed_users()
            if seed:
                self.seed()

    def _seed_users(self) -> None:
        sf = self.salesforce
        username = self.controls.credentials.salesforce_username
        owner = sf.insert(
            "User",
            {
                "Username": username,
                "FirstName": "Sandbox",
                "LastName": "Integration",
                "Email": username,
                "IsActive": True,
            },
        )
        sf.default_owner = owner
        sf.insert(
            "User",
            {
                "Username": "sofia.sales@sandbox.example.com",
                "FirstName": "Sofia",
                "LastName": "Sales",
                "Email": "sofia.sales@sandbox.example.com",
                "IsActive": True,
            },
        )

    def seed(self, sample_dir: Path | None = None) -> None:
        """Accounts/companies, the contacts marked ``in_crm=yes`` and the deals
        (opportunities) from the sample data (``sample_dir``, by default cx360's)."""
        sample_dir = sample_dir or cx360_sample_data()
        with (sample_dir / "accounts.csv").open(encoding="utf-8", newline="") as handle:
            accounts = list(csv.DictReader(handle))
        with (sample_dir / "contacts.csv").open(encoding="utf-8", newline="") as handle:
            contacts = [row for row in csv.DictReader(handle) if row.get("in_crm") == "yes"]
        with self.lock:
            sf, hs = self.salesforce, self.hubspot
            account_ids: dict[str, str] = {}
            company_ids: dict[str, str] = {}
            for row in accounts:
                account_ids[row["domain"]] = sf.insert(
                    "Account",
                    {
                        "Name": row["name"],
                        "Website": row["domain"],
                        "BillingCountry": row.get("country") or None,
                    },
                )
                company = hs.create(
                    "companies",
                    {
                        "name": row["name"],
                        "domain": row["domain"],
                        "country": row.get("country") or None,
                    },
                )
                company_ids[row["domain"]] = company["id"]
            for number, row in enumerate(contacts):
                domain = row.get("account_domain") or ""
                sf.insert(
                    "Contact",
                    {
                        "FirstName": row["first_name"],
                        "LastName": row["last_name"],
                        "Email": row["email"],
                        "AccountId": account_ids.get(domain),
                    },
                )
                contact = hs.create(
                    "contacts",
                    {
                        "email": row["email"],
                        "firstname": row["first_name"],
                        "lastname": row["last_name"],
                        "hubspot_owner_id": HUBSPOT_OWNERS[number % len(HUBSPOT_OWNERS)],
                    },
                )
                if domain in company_ids:
                    hs.associate("contacts", contact["id"], "companies", company_ids[domain], [279])
            self._seed_deals(sample_dir / "deals.csv", account_ids, company_ids)

    def _seed_deals(
        self, path: Path, account_ids: dict[str, str], company_ids: dict[str, str]
    ) -> None:
        """Each sample deal as an Opportunity and a HubSpot deal (primary company), closed
        ``closed_days_ago`` days before today (negative: expected to close then)."""
        if not path.exists():
            return
        with path.open(encoding="utf-8", newline="") as handle:
            deals = list(csv.DictReader(handle))
        today = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
        for row in deals:
            stage = SAMPLE_STAGES[row["stage"]]
            closed = today - dt.timedelta(days=int(row["closed_days_ago"]))
            for crm, ids_by_domain in (("salesforce", account_ids), ("hubspot", company_ids)):
                account = ids_by_domain[row["account_domain"]]
                self._insert_deal(crm, account, row["name"], row["amount"], stage, closed)

    def generate_contacts(self, crm: str, count: int, accounts: int = 10) -> dict[str, Any]:
        """Add ``count`` synthetic contacts (``bulk-000123@example.com``) on ``accounts`` new
        accounts/companies, for benchmarks that need tens of thousands of records."""
        if count < 0 or accounts < 1:
            raise ValueError("count must be >= 0 and accounts >= 1")
        targets = ("salesforce", "hubspot") if crm == "both" else (crm,)
        created: dict[str, dict[str, Any]] = {}
        with self.lock:
            for target in targets:
                start = self._generated[target]
                if target == "salesforce":
                    sf = self.salesforce
                    parents = [
                        sf.insert(
                            "Account",
                            {
                                "Name": f"Bulk Account {start + i:04d}",
                                "Website": f"bulk-{start + i:04d}.example.com",
                            },
                        )
                        for i in range(accounts)
                    ]
                    for i in range(count):
                        number = start + i
                        sf.insert(
                            "Contact",
                            {
                                "FirstName": "Bulk",
                                "LastName": f"Contact {number:06d}",
                                "Email": f"bulk-{number:06d}@example.com",
                                "AccountId": parents[i % accounts],
                            },
                        )
                elif target == "hubspot":
                    hs = self.hubspot
                    companies = [
                        hs.create(
                            "companies",
                            {
                                "name": f"Bulk Company {start + i:04d}",
                                "domain": f"bulk-{start + i:04d}.example.com",
                            },
                        )["id"]
                        for i in range(accounts)
                    ]
                    for i in range(count):
                        number = start + i
                        contact = hs.create(
                            "contacts",
                            {
                                "email": f"bulk-{number:06d}@example.com",
                                "firstname": "Bulk",
                                "lastname": f"Contact {number:06d}",
                            },
                        )
                        hs.associate(
                            "contacts", contact["id"], "companies", companies[i % accounts], [279]
                        )
                else:
                    raise ValueError(f"crm must be hubspot, salesforce or both, not {crm!r}")
                self._generated[target] = start + count
                created[target] = {
                    "count": count,
                    "first_email": f"bulk-{start:06d}@example.com",
                    "last_email": f"bulk-{start + count - 1:06d}@example.com" if count else None,
                }
        return {"created": created}

    # --------------------------------------------------------------- persistence
    def generate_revenue_accounts(
        self, crm: str, count: int, won_per_account: int = 2
    ) -> list[str]:
        """``count`` new accounts/companies (ids returned in order), each with
        ``won_per_account`` deals won in the last 300 days (amounts 1,000 + 100 * n), one won
        400 days ago and one lost: for benchmarks of the revenue read."""
        if count < 0 or won_per_account < 0:
            raise ValueError("count and won_per_account must not be negative")
        today = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
        plan = [("won", 1 + 300 * n // max(won_per_account, 1)) for n in range(won_per_account)]
        plan += [("won", 400), ("lost", 10)]
        ids: list[str] = []
        with self.lock:
            for number in range(count):
                if crm == "salesforce":
                    account = self.salesforce.insert("Account", {"Name": f"Revenue {number:06d}"})
                else:
                    account = self.hubspot.create("companies", {"name": f"Revenue {number:06d}"})[
                        "id"
                    ]
                ids.append(account)
                for n, (stage, days_ago) in enumerate(plan):
                    self._insert_deal(
                        crm, account, f"Revenue {number:06d}-{n}", f"{1000 + 100 * n}.00",
                        SAMPLE_STAGES[stage], today - dt.timedelta(days=days_ago),
                    )  # fmt: skip
        return ids

    def _insert_deal(
        self, crm: str, account: str, name: str, amount: str, stage: tuple[str, str],
        closed: dt.datetime,
    ) -> None:  # fmt: skip
        """One won/lost/open deal of ``account`` in one CRM (a HubSpot deal's primary
        company is ``account``)."""
        if crm == "salesforce":
            self.salesforce.insert(
                "Opportunity",
                {"AccountId": account, "Name": name, "Amount": float(amount),
                 "StageName": stage[0], "CloseDate": closed.date().isoformat()},
            )  # fmt: skip
            return
        deal = self.hubspot.create(
            "deals",
            {"dealname": name, "amount": amount, "pipeline": "default", "dealstage": stage[1],
             "closedate": iso(closed)},
        )  # fmt: skip
        self.hubspot.associate("deals", deal["id"], "companies", account, [341, 5])

    def save(self, path: Path) -> None:
        with self.lock:
            payload = {
                "version": STATE_VERSION,
                "salesforce": self.salesforce.dump(),
                "hubspot": self.hubspot.dump(),
                "generated": self._generated,
            }
            text = json.dumps(payload, default=_jsonable, separators=(",", ":"))
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)

    def load(self, path: Path) -> None:
        payload = json.loads(path.read_text(encoding="utf-8"))
        if payload.get("version") != STATE_VERSION:
            raise ValueError(f"{path}: unsupported sandbox state version {payload.get('version')}")
        with self.lock:
            self.salesforce.load(payload["salesforce"])
            self.hubspot.load(payload["hubspot"])
            self._generated = payload.get("generated", {"salesforce": 0, "hubspot": 0})

    def deactivate_owner(self, crm: str, owner_id: str) -> dict[str, Any]:
        """An owner (user) leaves the company: records keep them, new assignments fail.

        HubSpot: the id leaves the options of every ``hubspot_owner_id`` property, so a write
        naming it is refused with ``INVALID_OPTION``. Salesforce: the User's ``IsActive``
        becomes false, and a write with it as ``OwnerId`` is refused with
        ``INACTIVE_OWNER_OR_USER``.
        """
        with self.lock:
            if crm == "hubspot":
                found = False
                for props in self.hubspot.properties.values():
                    prop = props.get("hubspot_owner_id")
                    if prop is None:
                        continue
                    before = len(prop["options"])
                    prop["options"] = [o for o in prop["options"] if o["value"] != owner_id]
                    found = found or len(prop["options"]) < before
                if not found:
                    raise KeyError(owner_id)
                return {"crm": crm, "owner": owner_id, "active": False}
            if crm == "salesforce":
                user = self.salesforce.records["User"].get(owner_id)
                if user is None:
                    raise KeyError(owner_id)
                user["IsActive"] = False
                return {"crm": crm, "owner": owner_id, "active": False}
        raise KeyError(crm)

    def merge_salesforce(self, object_name: str, master_id: str, loser_id: str) -> dict[str, Any]:
        """An admin merges two Accounts or Contacts (Salesforce's REST API has no merge
        resource; the UI, SOAP ``merge()`` and Apex do): the loser is deleted with
        ``MasterRecordId`` set to the master."""
        with self.lock:
            found = self.salesforce.object_named(object_name)
            if found is None or found["name"] not in ("Account", "Contact"):
                raise ValueError(f"only Accounts and Contacts are merged here, not {object_name}")
            try:
                self.salesforce.merge(found["name"], master_id, loser_id)
            except FieldError as exc:
                raise ValueError(f"{exc.code}: {exc.message}") from None
        return {"object": found["name"], "master": master_id, "merged": loser_id}

    def enable_currencies(self, crm: str, corporate: str, rates: dict[str, Any]) -> dict[str, Any]:
        """An admin turns on multiple currencies: ``corporate`` (Salesforce) or the company
        currency (HubSpot) and the others with their rate to it (units per corporate unit)."""
        codes = [corporate, *rates]
        bad = [c for c in codes if not (len(c) == 3 and c.isascii() and c.isupper())]
        if bad:
            raise ValueError(f"not ISO 4217 currency codes: {', '.join(map(repr, bad))}")
        try:
            parsed = {code: float(rate) for code, rate in rates.items()}
        except (TypeError, ValueError):
            raise ValueError("every conversion rate must be a number") from None
        if any(not rate > 0 for rate in parsed.values()):
            raise ValueError("every conversion rate must be above 0")
        with self.lock:
            if crm == "salesforce":
                self.salesforce.enable_currencies(corporate, parsed)
            elif crm == "hubspot":
                self.hubspot.enable_currencies(corporate, parsed)
            else:
                raise KeyError(crm)
        return {"crm": crm, "corporate": corporate, "currencies": sorted(set(codes))}

    # -------------------------------------------------------------------- access
    def records(self, crm: str, object_name: str) -> list[dict[str, Any]]:
        """Copies of the stored records of one object, for tests and the demo."""
        with self.lock:
            if crm == "salesforce":
                found = self.salesforce.object_named(object_name)
                if found is None:
                    raise KeyError(object_name)
                return [dict(r) for r in self.salesforce.records[found["name"]].values()]
            if crm == "hubspot":
                object_type = ALIASES.get(object_name.lower())
                if object_type is None:
                    raise KeyError(object_name)
                out = []
                for record in self.hubspot.records[object_type].values():
                    copy = {**record, "properties": dict(record["properties"])}
                    copy["associations"] = {
                        to_type: sorted(by_id, key=int)
                        for to_type, by_id in self.hubspot.associations.get(
                            (object_type, record["id"]), {}
                        ).items()
                        if by_id
                    }
                    out.append(copy)
                return out
        raise KeyError(crm)


def _jsonable(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot store {type(value).__name__} in the sandbox state file")
