"""Record identity: stored CRM ids belong to one HubSpot portal / Salesforce org.

cx360 pushes to CRM A; the admin points it at CRM B (another portal / org, a second sandbox
whose records have the same ids but are other people). Then no push writes anything, `cx360
check` names `cx360 sync --rematch`, erasure answers 409, and `cx360 sync --rematch` matches
everyone again by email so the score lands on the person's own record in B.

The identities are read as the vendors document them: HubSpot ``GET /account-info/v3/details``
answers ``portalId`` (developers.hubspot.com/docs/api-reference/latest/account/
account-information/get-account-details); Salesforce's token reply names the identity URL
``/id/<org id>/<user id>`` in ``id`` (developer.salesforce.com/docs/platform/mobile-sdk/guide/
oauth-using-identity-urls.html).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from connector.app import database
from connector.cli import main
from connector.crm.factory import adapter_from_config
from connector.storage import Contact
from connector.sync.runs import forget_connections
from crm_sandbox import Credentials, SandboxServer
from crm_sandbox.signin import OTHER_HUBSPOT_PORTAL_ID, OTHER_SALESFORCE_ORG_ID
from tests.pipeline.conftest import Pipeline, make_pipeline

PERSON = "marie.lange@nordlicht-logistik.de"
STRANGER = "someone.else@portal-b.example"
SCORE_FIELD = {"hubspot": "cx360_nps_score", "salesforce": "CX_NPS_Score__c"}


@pytest.fixture(scope="module")
def two_crms() -> Iterator[tuple[SandboxServer, SandboxServer]]:
    """Two CRMs started alike, so the same sample records carry the same ids in both: the
    second is another portal / org."""
    folder = Path(tempfile.mkdtemp(prefix="cx360-sb-ab-"))
    other = Credentials(
        hubspot_portal_id=OTHER_HUBSPOT_PORTAL_ID, salesforce_org_id=OTHER_SALESFORCE_ORG_ID
    )
    with (
        SandboxServer(crm="both", port=0, state_dir=folder) as first,
        SandboxServer(crm="both", port=0, state_dir=folder, credentials=other) as second,
    ):
        yield first, second
    shutil.rmtree(folder, ignore_errors=True)


def _cli(pipeline: Pipeline, *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=pipeline.env, catch_exceptions=False)


def _post(pipeline: Pipeline, external_id: str, score: int, comment: str) -> None:
    reply = pipeline.app.test_client().post(
        "/api/v1/responses",
        json={"responses": [{"source": "survey", "external_id": external_id, "kind": "nps",
                             "score": score, "email": PERSON, "comment": comment,
                             "answered_at": "2026-11-28T09:00:00Z"}]},
        headers=pipeline.headers("ingest"),
    )  # fmt: skip
    assert reply.status_code == 200, reply.json


def _stored_id(pipeline: Pipeline) -> str | None:
    with database(pipeline.app).session() as session:
        return session.scalar(select(Contact.crm_id).where(Contact.email == PERSON))


class CrmRecords:
    """Changes a CRM admin makes by hand, through the real client libraries."""

    def __init__(self, crm: str, config: dict[str, Any]) -> None:
        self.crm = crm
        if crm == "hubspot":
            from hubspot import HubSpot

            client = HubSpot(access_token=config["HUBSPOT_ACCESS_TOKEN"],
                             host=config["HUBSPOT_BASE_URL"],
                             ssl_ca_cert=config["CX360_CRM_CA_BUNDLE"])  # fmt: skip
            self.contacts = client.crm.contacts.basic_api
            return
        from simple_salesforce import Salesforce

        from connector.crm.auth import fetch_salesforce_token, http_session

        session = http_session(config)
        token = fetch_salesforce_token(config, session)
        self.sf = Salesforce(instance_url=token.instance_url, session_id=token.access_token,
                             session=session)  # fmt: skip

    def create(self, email: str) -> str:
        if self.crm == "hubspot":
            from hubspot.crm.contacts import SimplePublicObjectInputForCreate

            made = self.contacts.create(
                SimplePublicObjectInputForCreate(properties={"email": email})
            )
            return str(made.id)
        return str(self.sf.Contact.create({"LastName": "Lange", "Email": email})["id"])

    def set_email(self, crm_id: str, email: str) -> None:
        if self.crm == "hubspot":
            from hubspot.crm.contacts import SimplePublicObjectInput

            self.contacts.update(crm_id, SimplePublicObjectInput(properties={"email": email}))
        else:
            self.sf.Contact.update(crm_id, {"Email": email})

    def delete(self, crm_id: str) -> None:
        if self.crm == "hubspot":
            self.contacts.archive(crm_id)
        else:
            self.sf.Contact.delete(crm_id)


def _give_id_to_stranger(crm: str, config: dict[str, Any], crm_id: str) -> None:
    """In CRM B, the record with the id cx360 cached from A is another person, and the person
    has a record of their own (another id)."""
    records = CrmRecords(crm, config)
    records.set_email(crm_id, STRANGER)
    records.create(PERSON)


def _score_of(config: dict[str, Any], crm: str, crm_id: str) -> Any:
    adapter = adapter_from_config(config)
    return adapter.read("contact", [crm_id], [SCORE_FIELD[crm]])[crm_id].get(SCORE_FIELD[crm])


@pytest.mark.integration
@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_given_ids_from_crm_a_when_pointed_at_crm_b_then_nothing_written_until_rematch(
    crm: str, two_crms: tuple[SandboxServer, SandboxServer], request: pytest.FixtureRequest
) -> None:
    sandbox, other_sandbox = two_crms
    other_sandbox.admin.reset()  # as make_pipeline resets the first: the same ids in both
    pipeline = make_pipeline(crm, "embedded", sandbox, request)
    pipeline.install()
    _post(pipeline, "a-1", 9, "Gut")
    first = _cli(pipeline, "sync")
    assert first.exit_code == 0, first.output
    cached = _stored_id(pipeline)
    assert cached, "the person is matched in CRM A"

    # The admin points cx360 at CRM B, where that id is somebody else.
    settings = other_sandbox.client_settings()
    moved = {k: v for k, v in settings.items() if k.startswith(("CX360_", crm.upper() + "_"))}
    pipeline.config.update(moved)
    pipeline.app.config.update(moved)
    forget_connections()
    _give_id_to_stranger(crm, pipeline.config, cached)
    pipeline.install()

    checked = _cli(pipeline, "check")
    assert checked.exit_code == 1, checked.output
    assert "FAIL" in checked.output and "cx360 sync --rematch" in checked.output

    _post(pipeline, "b-1", 1, "Sehr schlecht, Kündigung geplant")
    refused = _cli(pipeline, "sync")
    assert refused.exit_code != 0
    assert "cx360 sync --rematch" in refused.output
    assert _score_of(pipeline.config, crm, cached) in (None, "")  # the stranger is untouched

    erased = pipeline.app.test_client().delete(
        f"/api/v1/people/{PERSON}", headers=pipeline.headers("admin")
    )
    assert erased.status_code == 409 and "cx360 sync --rematch" in erased.json["message"]

    rematched = _cli(pipeline, "sync", "--rematch", "--json")
    assert rematched.exit_code == 0, rematched.output
    run = json.loads(rematched.output[rematched.output.index("{") :])
    assert run["rematch"] is True and run["status"] == "succeeded" and run["written"] >= 1
    own = _stored_id(pipeline)
    assert own and own != cached
    assert float(_score_of(pipeline.config, crm, own)) == 1
    assert _score_of(pipeline.config, crm, cached) in (None, "")
    again = _cli(pipeline, "check")
    assert "cx360 sync --rematch" not in again.output, again.output
