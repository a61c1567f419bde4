"""Field ownership and the business's calendar, through the real client libraries.

DESIGN.md "Field ownership": the CRM shows exactly the current scorecard, so a newer answer
without a comment clears the comment field. How each CRM clears a field, as documented:
- HubSpot: the v3 object update (PATCH /crm/v3/objects/contacts/{id} and its batch form) takes
  an empty string to clear a property value
  (https://developers.hubspot.com/docs/api/crm/contacts, "Update contacts").
- Salesforce: a field given as JSON ``null`` in an sObject Collections update is set to null,
  the REST form of the SOAP API's ``fieldsToNull``
  (https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-update.html,
  https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_concepts_core_data_objects.htm).
DESIGN.md "Dates": ``nps.date`` is the calendar day in CX360_TIMEZONE. A HubSpot date property
holds midnight UTC of that day ("Date properties ... must be set to midnight UTC for the date
you want", https://developers.hubspot.com/docs/faq/how-should-timestamps-be-formatted-for-hubspots-apis);
a Salesforce Date field holds the ISO date.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connector.crm.mapping import load_mapping
from connector.crm.types import RecordUpdate
from tests.pipeline.conftest import make_pipeline
from tests.pipeline.test_connection_identity import _cli
from tests.pipeline.test_end_to_end import DOMAINS, chosen_responses, crm_values, run_sync_now
from tests.pipeline.test_gone_records import _run, pushed_once


@pytest.mark.integration
@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_given_newer_answer_without_comment_when_pushed_then_comment_cleared_and_berlin_date(
    sandbox: Any, request: pytest.FixtureRequest, crm: str
) -> None:
    pipeline = make_pipeline(crm, "embedded", sandbox, request, CX360_TIMEZONE="Europe/Berlin")
    pipeline.install()
    email = next(r["email"] for r in chosen_responses() if r.get("account_domain") == DOMAINS[0])
    by_metric = load_mapping(crm, pipeline.config).contact.by_metric()
    score, comment, day = (by_metric[m].field for m in ("nps.score", "nps.comment", "nps.date"))
    client = pipeline.app.test_client()
    headers = pipeline.headers("ingest")

    def answer(external_id: str, value: int, answered_at: str, text: str | None) -> None:
        body: dict[str, Any] = {"source": "ownership-test", "external_id": external_id,
                                "kind": "nps", "score": value, "email": email,
                                "answered_at": answered_at}  # fmt: skip
        if text is not None:
            body["comment"] = text
        reply = client.post("/api/v1/responses", json=body, headers=headers)
        assert reply.status_code == 200, reply.json

    answer("own-1", 2, "2026-11-27T10:00:00Z", "Too slow")
    assert run_sync_now(pipeline)["written"] >= 1
    assert crm_values(pipeline, "contact", email)[comment] == "Too slow"

    # 00:30 in Berlin is 23:30 UTC on the 27th: the business's day is the 28th
    answer("own-2", 10, "2026-11-28T00:30:00+01:00", None)
    assert run_sync_now(pipeline)["written"] >= 1
    values = crm_values(pipeline, "contact", email)
    assert int(values[score]) == 10
    assert values[comment] in (None, "")  # HubSpot reads a cleared property as ""
    assert str(values[day])[:10] == "2026-11-28"

    # the field is empty now: clearing it again costs no call
    assert run_sync_now(pipeline)["written"] == 0


@pytest.mark.integration
@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_given_values_aged_out_of_window_when_record_pushed_then_fields_cleared(
    sandbox: Any, request: pytest.FixtureRequest, crm: str
) -> None:
    """csat.pct and the account's nps.* count the last 365 days; past that they are cleared on
    the next push that touches the record (here: a push a year later, as the worker does)."""
    from sqlalchemy import select

    from connector.app import database
    from connector.scoring import ScoringConfig
    from connector.storage import Contact
    from connector.sync.push import Pusher

    pipeline = make_pipeline(crm, "embedded", sandbox, request)
    pipeline.install()
    email = next(r["email"] for r in chosen_responses() if r.get("account_domain") == DOMAINS[0])
    mapping = load_mapping(crm, pipeline.config)
    csat_pct = mapping.contact.by_metric()["csat.pct"].field
    account_nps = mapping.account.by_metric()["nps.score"].field
    client = pipeline.app.test_client()
    for external_id, kind, value in (("age-1", "csat", 5), ("age-2", "nps", 9)):
        body = {"source": "ownership-test", "external_id": external_id, "kind": kind,
                "score": value, "email": email, "answered_at": "2026-11-27T10:00:00Z",
                "account_domain": DOMAINS[0]}  # fmt: skip
        reply = client.post("/api/v1/responses", json=body, headers=pipeline.headers("ingest"))
        assert reply.status_code == 200, reply.json
    run_sync_now(pipeline)
    run_sync_now(pipeline)  # accounts linked by the first push are written by the next
    assert float(crm_values(pipeline, "contact", email)[csat_pct]) == 100.0
    assert crm_values(pipeline, "account", DOMAINS[0])[account_nps] not in (None, "")

    a_year_later = datetime(2027, 12, 1, tzinfo=UTC)
    with pipeline.app.app_context(), database(pipeline.app).session() as session:
        contact = session.scalars(select(Contact).where(Contact.email == email)).one()
        pusher = Pusher(session, pipeline.adapter(), mapping, ScoringConfig(), now=a_year_later)
        pusher.push([contact.id], [contact.account_id] if contact.account_id else [])

    assert crm_values(pipeline, "contact", email)[csat_pct] in (None, "")
    assert crm_values(pipeline, "account", DOMAINS[0])[account_nps] in (None, "")


@pytest.mark.integration
@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_given_stale_value_set_by_hand_when_sync_full_then_field_cleared(
    sandbox: Any, request: pytest.FixtureRequest, crm: str
) -> None:
    """``cx360 sync --full`` rewrites the scorecard exactly: a field whose metric is empty is
    cleared even where cx360 has no record of writing it (here: set by hand in the CRM)."""
    pipeline, crm_id = pushed_once(crm, sandbox, request)  # one NPS answer, no CSAT
    pct = load_mapping(crm, pipeline.config).contact.by_metric()["csat.pct"].field
    adapter = pipeline.adapter()
    adapter.write("contact", [RecordUpdate(crm_id, {pct: 80})])

    assert _run(_cli(pipeline, "sync", "--json"))["written"] == 0  # diff-only: left alone
    assert adapter.read("contact", [crm_id], [pct])[crm_id].get(pct) not in (None, "")
    run = _run(_cli(pipeline, "sync", "--full", "--json"))

    assert run["written"] >= 1 and run["rejected"] == 0, run
    assert adapter.read("contact", [crm_id], [pct])[crm_id].get(pct) in (None, "")
