"""How each CRM clears a field, as the vendors document it; the sandbox must do the same,
driven only through the real client libraries (DESIGN.md "Field ownership": a metric that
became null clears its field).

- HubSpot: "To clear a property value, pass an empty string" for the property in the update
  (developers.hubspot.com/docs/api/crm/contacts, "Update contacts"; the batch update takes the
  same inputs, developers.hubspot.com/docs/api-reference/crm-contacts-v3/batch/
  post-crm-v3-objects-contacts-batch-update). A property without a value reads as ``null``
  when it is asked for.
- Salesforce: a field given as JSON ``null`` in an update is set to null
  (developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/
  dome_update_fields.htm, "Update a Record", and sObject Collections
  resources_composite_sobjects_collections_update.htm), the REST form of the SOAP API's
  ``fieldsToNull``; a required field cannot be cleared (``REQUIRED_FIELD_MISSING``).
"""

from __future__ import annotations

from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    SimplePublicObjectBatchInput,
    SimplePublicObjectInput,
)
from simple_salesforce import Salesforce

from tests.sandbox.test_hubspot_contract import BEN, contact, install
from tests.sandbox.test_salesforce_contract import contact_id

SF_EMAIL = "ben.weber@acme-maschinenbau.de"


@pytest.mark.integration
def test_given_hubspot_property_with_value_when_updated_with_empty_string_then_reads_null(
    hs: HubSpot,
) -> None:
    install(hs)
    record = contact(hs, BEN)
    hs.crm.contacts.basic_api.update(
        record.id, SimplePublicObjectInput(properties={"cx_nps_score": "9", "firstname": "Ben"})
    )

    hs.crm.contacts.basic_api.update(
        record.id, SimplePublicObjectInput(properties={"cx_nps_score": ""})
    )

    after = contact(hs, BEN, "cx_nps_score", "firstname").properties
    assert after["cx_nps_score"] is None
    assert after["firstname"] == "Ben"  # only the property sent is cleared


@pytest.mark.integration
def test_given_hubspot_batch_update_with_empty_string_then_property_cleared(hs: HubSpot) -> None:
    install(hs)
    record = contact(hs, BEN)
    batch = hs.crm.contacts.batch_api

    def send(value: str) -> Any:
        inputs = [SimplePublicObjectBatchInput(id=record.id, properties={"cx_nps_score": value})]
        return batch.update(BatchInputSimplePublicObjectBatchInput(inputs=inputs))

    send("7")
    assert contact(hs, BEN, "cx_nps_score").properties["cx_nps_score"] == "7"
    reply = send("")
    assert reply.status == "COMPLETE"  # a 200: BatchResponseSimplePublicObject, no errors
    assert contact(hs, BEN, "cx_nps_score").properties["cx_nps_score"] is None


@pytest.mark.integration
def test_given_salesforce_field_with_value_when_updated_with_null_then_it_is_null(
    sf: Salesforce,
) -> None:
    rid = contact_id(sf, SF_EMAIL)
    sf.Contact.update(rid, {"Title": "Einkauf", "FirstName": "Ben"})

    sf.Contact.update(rid, {"Title": None})

    after = sf.Contact.get(rid)
    assert after["Title"] is None and after["FirstName"] == "Ben"


@pytest.mark.integration
def test_given_salesforce_collection_update_with_null_then_cleared_and_required_field_refused(
    sf: Salesforce,
) -> None:
    rid = contact_id(sf, SF_EMAIL)
    sf.Contact.update(rid, {"Title": "Einkauf"})

    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Contact"}, "id": rid, "Title": None},
                {"attributes": {"type": "Contact"}, "id": rid, "LastName": None},
            ],
        },
    )

    assert results[0]["success"] is True
    assert results[1]["success"] is False
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    after = sf.Contact.get(rid)
    assert after["Title"] is None and after["LastName"]
