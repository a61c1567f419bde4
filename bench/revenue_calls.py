"""CRM calls to read the revenue of 10,000 accounts (issue #22), per CRM, against the budget.

For each CRM, against one sandbox: ``--accounts`` (10,000) accounts/companies are seeded, each
with ``--won`` (2) deals won in the last 300 days, one won 400 days ago and one lost. The
adapter reads their revenue over a 365-day window the way the refresh does (batches of the
adapter's ``revenue_batch``); the calls are the sandbox's own request counts (the token
request excluded) next to the adapter's counter, scaled to 10,000 accounts. Every account's
amount is checked against the seeded deals.

Budget (issue 22): Salesforce <= 10 calls, HubSpot <= 150 calls per 10,000 accounts.

    .venv/bin/python bench/revenue_calls.py [--accounts 10000] [--won 2]
        [--crm hubspot salesforce]
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal

from _harness import finish, sandbox_server

from connector.batching import chunked
from connector.crm.factory import adapter_from_config
from connector.sync.revenue import REVENUE_BATCH

BUDGET = {"salesforce": 10, "hubspot": 150}
WINDOW_DAYS = 365


def _no_stored_secret(_config: object, _name: str) -> None:
    return None


def measure(crm: str, accounts: int, won: int) -> tuple[bool, str]:
    with sandbox_server() as sandbox:
        sandbox.admin.reset(seed=False)
        started = time.monotonic()
        ids = sandbox.state.generate_revenue_accounts(crm, accounts, won_per_account=won)
        print(f"=== {crm}: {accounts:,} accounts, {won} won deals each in the window ===")
        print(f"seeded in {time.monotonic() - started:.1f} s")
        adapter = adapter_from_config(
            {**sandbox.client_settings(), "CX360_CRM": crm}, lookup=_no_stored_secret
        )
        sandbox.admin.reset_stats()
        adapter.calls.total, adapter.calls.by_operation = 0, {}
        started = time.monotonic()
        read = {}
        for part in chunked(ids, int(getattr(adapter, "revenue_batch", REVENUE_BATCH))):
            read.update(adapter.read_account_revenue(part, WINDOW_DAYS))
        elapsed = time.monotonic() - started
        endpoints = {
            name: n
            for name, n in sandbox.admin.stats()["endpoints"].items()
            if name.startswith(f"{crm}.") and "oauth" not in name and n
        }
    expected = Decimal(sum(1000 + 100 * n for n in range(won)))
    wrong = [i for i in ids if read.get(i) is None or read[i].amount != expected]
    calls = sum(endpoints.values())
    per_10k = calls * 10_000 / max(accounts, 1)
    print(f"read in {elapsed:.1f} s; sandbox calls by endpoint: {endpoints}")
    print(f"adapter's own count: {adapter.calls.total} ({adapter.calls.by_operation})")
    print(f"{crm}: {calls} calls for {accounts:,} accounts = {per_10k:.1f} per 10,000 accounts "
          f"(budget {BUDGET[crm]}); {len(wrong)} account(s) with a wrong amount")  # fmt: skip
    ok = per_10k <= BUDGET[crm] and not wrong
    return ok, f"{crm}: {per_10k:.1f} calls per 10,000 accounts <= {BUDGET[crm]}, amounts right"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--won", type=int, default=2, help="won deals per account in the window")
    parser.add_argument("--crm", nargs="+", choices=sorted(BUDGET), default=sorted(BUDGET))
    args = parser.parse_args()
    return finish([measure(crm, args.accounts, args.won) for crm in args.crm])


if __name__ == "__main__":
    sys.exit(main())
