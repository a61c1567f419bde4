"""How long the sandbox CRM takes to handle one batch, so benchmarks measure cx360, not it.

Prints medians (and 95th percentiles) of
- the handling time inside the sandbox (the WSGI app called directly, no network) for a
  HubSpot batch upsert of 100 contacts and a Salesforce sObject Collections update of 200;
- the round trip through HTTPS with the real clients (hubspot-api-client, simple-salesforce).

Usage: python bench/sandbox_speed.py [--contacts 10000] [--rounds 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from hubspot import HubSpot
from simple_salesforce import Salesforce
from werkzeug.test import Client

from crm_sandbox import SandboxServer
from crm_sandbox.app import SandboxApp


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"median {statistics.median(ordered):7.2f} ms   p95 {p95:7.2f} ms   n={len(ordered)}"


def timed(rounds: int, call: Callable[[int], Any]) -> list[float]:
    samples = []
    for round_number in range(rounds):
        started = time.perf_counter()
        call(round_number)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000, help="synthetic contacts per CRM")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, SandboxServer(state_dir=Path(folder)) as sb:
        started = time.perf_counter()
        sb.admin.generate_contacts("both", count=args.contacts, accounts=50)
        print(
            f"generated {args.contacts} contacts per CRM in {time.perf_counter() - started:.1f} s"
        )
        session = requests.Session()
        session.verify, session.trust_env = str(sb.ca_path), False
        token = session.post(
            sb.salesforce_token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": "sandbox-client",
                "client_secret": "sandbox-secret",
            },
        ).json()["access_token"]
        sf = Salesforce(instance_url=sb.url, session_id=token, session=session)
        sf.toolingexecute(
            "sobjects/CustomField",
            method="POST",
            data={
                "FullName": "Contact.CX_NPS_Score__c",
                "Metadata": {"label": "NPS", "type": "Number", "precision": 4, "scale": 1},
            },
        )
        ids = [r["Id"] for r in sb.state.records("salesforce", "Contact")[:200]]
        emails = [f"bulk-{i:06d}@example.com" for i in range(100)]

        def hubspot_body(round_number: int) -> dict[str, Any]:
            return {
                "inputs": [
                    {
                        "idProperty": "email",
                        "id": e,
                        "properties": {"firstname": f"R{round_number}"},
                    }
                    for e in emails
                ]
            }

        def salesforce_body(round_number: int) -> dict[str, Any]:
            return {
                "allOrNone": False,
                "records": [
                    {
                        "attributes": {"type": "Contact"},
                        "id": i,
                        "CX_NPS_Score__c": round_number % 11,
                    }
                    for i in ids
                ],
            }

        app = SandboxApp(sb.state, "both", sb.info)
        direct = Client(app)
        hub_headers = {"Authorization": "Bearer sandbox-hubspot-token"}
        sf_headers = {"Authorization": f"Bearer {token}"}
        print("\nhandling inside the sandbox (WSGI app called directly):")
        hub = timed(
            args.rounds,
            lambda n: direct.post(
                "/crm/v3/objects/contacts/batch/upsert", json=hubspot_body(n), headers=hub_headers
            ),
        )
        print(f"  HubSpot batch upsert, 100 contacts:       {summary(hub)}")
        sfc = timed(
            args.rounds,
            lambda n: direct.patch(
                "/services/data/v59.0/composite/sobjects",
                json=salesforce_body(n),
                headers=sf_headers,
            ),
        )
        print(f"  Salesforce collection update, 200 records: {summary(sfc)}")
        query = "SELECT Id, Email FROM Contact WHERE Email IN ({})".format(
            ",".join(f"'bulk-{i:06d}@example.com'" for i in range(200))
        )
        soql = timed(
            args.rounds,
            lambda n: direct.get(
                "/services/data/v59.0/query/", query_string={"q": query}, headers=sf_headers
            ),
        )
        print(f"  SOQL Email IN (200 values):                {summary(soql)}")

        hs = HubSpot(access_token="sandbox-hubspot-token", host=sb.url, ssl_ca_cert=str(sb.ca_path))
        print("\nround trip over HTTPS with the real clients:")
        hub_rt = timed(
            args.rounds,
            lambda n: hs.crm.contacts.batch_api.upsert(hubspot_body(n), _preload_content=False),
        )
        print(f"  HubSpot batch upsert, 100 contacts:       {summary(hub_rt)}")
        sf_rt = timed(
            args.rounds,
            lambda n: sf.restful("composite/sobjects", method="PATCH", json=salesforce_body(n)),
        )
        print(f"  Salesforce collection update, 200 records: {summary(sf_rt)}")
        single = timed(
            args.rounds,
            lambda n: hs.crm.contacts.basic_api.get_by_id(
                emails[n % 100], id_property="email", _preload_content=False
            ),
        )
        print(f"  HubSpot single read:                       {summary(single)}")
        print("\nsandbox stats:", json.dumps(sb.admin.stats()["salesforce_api_usage"]))


if __name__ == "__main__":
    main()
