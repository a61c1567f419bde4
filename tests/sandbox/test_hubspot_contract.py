"""The HubSpot surface, driven only through hubspot-api-client, checked against
CRM_API_NOTES.md (values as strings, 207 per-input errors, error body shape)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.associations.v4 import AssociationSpec
from hubspot.crm.companies import SimplePublicObjectInputForCreate as CompanyInput
from hubspot.crm.contacts import (
    ApiException as ContactsApiException,
)
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import NotFoundException, UnauthorizedException
from hubspot.crm.objects import SimplePublicObjectInputForCreate as ObjectInputForCreate
from hubspot.crm.objects.tasks import ApiException as TasksApiException
from hubspot.crm.properties import ApiException as PropertiesApiException
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate

from crm_sandbox import SandboxServer
from crm_sandbox.control import HUBSPOT_SCOPES

BEN = "ben.weber@acme-maschinenbau.de"
MARIE = "marie.lange@nordlicht-logistik.de"
CATEGORY = PropertyCreate(
    name="cx_nps_category",
    label="NPS category",
    type="enumeration",
    field_type="select",
    group_name="cx360",
    options=[
        {"label": v.title(), "value": v, "displayOrder": i, "hidden": False}
        for i, v in enumerate(("promoter", "passive", "detractor"))
    ],
)
SCORE = PropertyCreate(
    name="cx_nps_score", label="NPS score", type="number", field_type="number", group_name="cx360"
)


def install(hs: HubSpot) -> None:
    hs.crm.properties.groups_api.create(
        "contacts", PropertyGroupCreate(name="cx360", label="cx360")
    )
    for prop in (CATEGORY, SCORE):
        hs.crm.properties.core_api.create("contacts", prop)


def body_of(exc: Any) -> dict[str, Any]:
    return dict(json.loads(exc.body))


def contact(hs: HubSpot, email: str, *properties: str) -> Any:
    return hs.crm.contacts.basic_api.get_by_id(
        email, id_property="email", properties=list(properties) or None
    )


# ----------------------------------------------------------------------- objects
def test_given_seeded_contact_when_read_by_id_and_by_email_then_same_record_as_strings(
    hs: HubSpot,
) -> None:
    by_email = contact(hs, BEN)
    by_id = hs.crm.contacts.basic_api.get_by_id(by_email.id)
    assert by_email.id == by_id.id and by_email.id.isdigit()
    assert by_email.properties["email"] == BEN
    assert by_email.properties["hs_object_id"] == by_email.id
    # CRM_API_NOTES: property values come back as strings
    assert all(v is None or isinstance(v, str) for v in by_email.properties.values())
    assert by_email.archived is False and by_email.created_at is not None


def test_given_requested_properties_when_read_then_those_plus_ids_and_dates(hs: HubSpot) -> None:
    record = contact(hs, BEN, "firstname", "hubspot_owner_id", "no_such_property")
    assert set(record.properties) == {
        "firstname",
        "hubspot_owner_id",
        "hs_object_id",
        "createdate",
        "lastmodifieddate",
    }
    assert record.properties["hubspot_owner_id"] in ("1001", "1002")


def test_given_new_contact_when_created_then_updated_then_values_are_strings(hs: HubSpot) -> None:
    install(hs)
    created = hs.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={"email": "new@example.com", "firstname": "Nia"}
        )
    )
    updated = hs.crm.contacts.basic_api.update(
        created.id,
        SimplePublicObjectInput(
            properties={
                "cx_nps_score": 9,  # type: ignore[dict-item]
                "cx_nps_category": "promoter",
            }
        ),
    )
    assert updated.properties["cx_nps_score"] == "9"
    assert contact(hs, "new@example.com", "cx_nps_category").properties["cx_nps_category"] == (
        "promoter"
    )


def test_given_unknown_id_when_read_then_not_found_exception_object_not_found(
    hs: HubSpot,
) -> None:
    with pytest.raises(NotFoundException) as raised:
        hs.crm.contacts.basic_api.get_by_id("999999")
    body = body_of(raised.value)
    # CRM_API_NOTES: {"status":"error","message","correlationId","category"}
    assert (raised.value.status, body["status"], body["category"]) == (
        404,
        "error",
        "OBJECT_NOT_FOUND",
    )
    assert body["correlationId"]


def test_given_existing_email_when_contact_created_then_409_conflict(hs: HubSpot) -> None:
    with pytest.raises(ContactsApiException) as raised:
        hs.crm.contacts.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"email": BEN.upper()})
        )
    assert raised.value.status == 409 and body_of(raised.value)["category"] == "CONFLICT"
    assert "Existing ID" in body_of(raised.value)["message"]


@pytest.mark.parametrize(
    ("properties", "error"),
    [
        ({"nope": "x"}, "PROPERTY_DOESNT_EXIST"),
        ({"cx_nps_score": "abc"}, "INVALID_DECIMAL"),
        ({"cx_nps_category": "fan"}, "INVALID_OPTION"),
        ({"email": "not-an-email"}, "INVALID_EMAIL"),
        ({"hs_object_id": "5"}, "READ_ONLY_VALUE"),
    ],
)
def test_given_invalid_property_when_contact_updated_then_400_validation_error(
    hs: HubSpot, properties: dict[str, str], error: str
) -> None:
    install(hs)
    ben = contact(hs, BEN)
    with pytest.raises(ContactsApiException) as raised:
        hs.crm.contacts.basic_api.update(ben.id, SimplePublicObjectInput(properties=properties))
    body = body_of(raised.value)
    assert raised.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid")
    assert body["errors"][0]["code"] == error
    if error == "PROPERTY_DOESNT_EXIST":
        assert 'Property \\"nope\\" does not exist' in body["message"]


# ------------------------------------------------------------------------- batch
def test_given_ids_and_emails_when_batch_read_then_found_and_missing_reported_207(
    hs: HubSpot,
) -> None:
    reply, status, _ = hs.crm.contacts.batch_api.read_with_http_info(
        BatchReadInputSimplePublicObjectId(
            properties=["email"],
            id_property="email",
            inputs=[{"id": BEN}, {"id": MARIE}, {"id": "ghost@example.com"}],
        )
    )
    assert status == 207 and reply.status == "COMPLETE"
    assert {r.properties["email"] for r in reply.results} == {BEN, MARIE}
    assert reply.num_errors == 1
    assert reply.errors[0].category == "OBJECT_NOT_FOUND"
    assert reply.errors[0].context == {"ids": ["ghost@example.com"]}


def test_given_new_contacts_when_batch_created_then_201_with_ids(hs: HubSpot) -> None:
    reply, status, _ = hs.crm.contacts.batch_api.create_with_http_info(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                {"properties": {"email": f"b{i}@example.com"}, "associations": []} for i in range(3)
            ]
        )
    )
    assert status == 201 and len(reply.results) == 3
    assert type(reply).__name__ == "BatchResponseSimplePublicObject"  # not the WithErrors shape


def test_given_one_bad_traced_input_when_batch_updated_then_207_others_applied(
    hs: HubSpot,
) -> None:
    """With an ``objectWriteTraceId`` on every input HubSpot answers per input, 207
    Multi-Status, each error naming its input's trace id
    (https://developers.hubspot.com/docs/api-reference/error-handling, "Multi-status
    errors")."""
    install(hs)
    ben, marie = contact(hs, BEN), contact(hs, MARIE)
    reply, status, _ = hs.crm.contacts.batch_api.update_with_http_info(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[
                {"id": ben.id, "objectWriteTraceId": "t-ben",
                 "properties": {"cx_nps_category": "detractor"}},
                {"id": marie.id, "objectWriteTraceId": "t-marie",
                 "properties": {"cx_nps_category": "fan"}},
                {"id": "999999", "objectWriteTraceId": "t-gone",
                 "properties": {"cx_nps_category": "passive"}},
            ]
        )
    )  # fmt: skip
    # CRM_API_NOTES: 207 with numErrors and errors[{status,category,message,context:{ids}}]
    assert status == 207 and reply.num_errors == 2
    by_category = {e.category: e for e in reply.errors}
    assert by_category["VALIDATION_ERROR"].context == {
        "ids": [marie.id], "objectWriteTraceId": ["t-marie"]
    }  # fmt: skip
    assert by_category["VALIDATION_ERROR"].errors[0].code == "INVALID_OPTION"
    assert by_category["OBJECT_NOT_FOUND"].context == {
        "ids": ["999999"], "objectWriteTraceId": ["t-gone"]
    }  # fmt: skip
    assert [(r.id, r.object_write_trace_id) for r in reply.results] == [(ben.id, "t-ben")]
    assert contact(hs, BEN, "cx_nps_category").properties["cx_nps_category"] == "detractor"


@pytest.mark.parametrize("action", ["create", "update"])
def test_given_one_bad_input_without_trace_ids_when_batch_written_then_400_nothing_applied(
    hs: HubSpot, action: str
) -> None:
    """Without ``objectWriteTraceId`` one bad input refuses the whole batch: HubSpot
    answers per input only when each input carries one
    (https://developers.hubspot.com/docs/api-reference/error-handling, "Multi-status
    errors"); the docs are silent on what is applied, so nothing is (strict)."""
    install(hs)
    ben = contact(hs, BEN)
    before = len(hs.crm.contacts.basic_api.get_page(limit=100).results)
    with pytest.raises(ContactsApiException) as raised:
        if action == "update":
            hs.crm.contacts.batch_api.update(
                BatchInputSimplePublicObjectBatchInput(
                    inputs=[
                        {"id": ben.id, "properties": {"cx_nps_category": "detractor"}},
                        {"id": ben.id + "0", "properties": {"cx_nps_category": "fan"}},
                    ]
                )
            )
        else:
            hs.crm.contacts.batch_api.create(
                BatchInputSimplePublicObjectBatchInputForCreate(
                    inputs=[
                        {"properties": {"email": "new@example.com"}, "associations": []},
                        {"properties": {"email": "bad@example.com", "cx_nps_category": "fan"},
                         "associations": []},
                    ]
                )
            )  # fmt: skip
    assert raised.value.status in {400, 404}
    assert body_of(raised.value)["category"] in {"VALIDATION_ERROR", "OBJECT_NOT_FOUND"}
    assert contact(hs, BEN, "cx_nps_category").properties.get("cx_nps_category") in (None, "")
    assert len(hs.crm.contacts.basic_api.get_page(limit=100).results) == before


def test_given_known_and_new_emails_when_batch_upserted_then_new_flags(hs: HubSpot) -> None:
    reply = hs.crm.contacts.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                {"idProperty": "email", "id": BEN, "properties": {"firstname": "Benjamin"}},
                {
                    "idProperty": "email",
                    "id": "fresh@example.com",
                    "properties": {"firstname": "Fresh"},
                },
            ]
        )
    )
    assert [(r.properties["email"], r.new) for r in reply.results] == [
        (BEN, False),
        ("fresh@example.com", True),
    ]
    assert contact(hs, BEN, "firstname").properties["firstname"] == "Benjamin"


def test_given_101_inputs_when_batch_upserted_then_400_and_nothing_written(
    sandbox: SandboxServer, hs: HubSpot
) -> None:
    inputs = [
        {"idProperty": "email", "id": f"x{i}@example.com", "properties": {}} for i in range(101)
    ]
    with pytest.raises(ContactsApiException) as raised:
        hs.crm.contacts.batch_api.upsert(
            BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs)
        )
    assert raised.value.status == 400
    assert body_of(raised.value)["category"] == "VALIDATION_ERROR"
    emails = {r["properties"].get("email") for r in sandbox.admin.records("hubspot", "contacts")}
    assert "x0@example.com" not in emails


def test_given_duplicate_ids_when_batch_upserted_then_400_duplicate_ids(hs: HubSpot) -> None:
    with pytest.raises(ContactsApiException) as raised:
        hs.crm.contacts.batch_api.upsert(
            BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[
                    {"idProperty": "email", "id": BEN, "properties": {}},
                    {"idProperty": "email", "id": BEN, "properties": {}},
                ]
            )
        )
    assert "Duplicate IDs" in body_of(raised.value)["message"]


# ------------------------------------------------------------------------ search
def test_given_email_filters_when_searched_then_eq_and_in_match(hs: HubSpot) -> None:
    eq = hs.crm.contacts.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[
                {"filters": [{"propertyName": "email", "operator": "EQ", "value": BEN.upper()}]}
            ],
            properties=["email"],
        )
    )
    within = hs.crm.contacts.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[
                {"filters": [{"propertyName": "email", "operator": "IN", "values": [BEN, MARIE]}]}
            ],
            properties=["email"],
        )
    )
    assert eq.total == 1 and eq.results[0].properties["email"] == BEN
    assert within.total == 2


def test_given_many_matches_when_searched_with_limit_then_paged_by_after(
    sandbox: SandboxServer, hs: HubSpot
) -> None:
    sandbox.admin.generate_contacts("hubspot", count=25, accounts=2)
    request = {
        "filterGroups": [
            {"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "Bulk"}]}
        ],
        "limit": 10,
    }
    seen: list[str] = []
    after = None
    while True:
        page = hs.crm.contacts.search_api.do_search(
            PublicObjectSearchRequest(**{**_snake(request), "after": after})
        )
        seen.extend(r.id for r in page.results)
        assert page.total == 25
        if page.paging is None:
            break
        after = page.paging.next.after
    assert len(seen) == len(set(seen)) == 25


def _snake(request: dict[str, Any]) -> dict[str, Any]:
    return {"filter_groups": request["filterGroups"], "limit": request["limit"]}


def test_given_unknown_property_when_searched_then_400_validation_error(hs: HubSpot) -> None:
    with pytest.raises(ContactsApiException) as raised:
        hs.crm.contacts.search_api.do_search(
            PublicObjectSearchRequest(
                filter_groups=[
                    {"filters": [{"propertyName": "nope", "operator": "EQ", "value": "x"}]}
                ]
            )
        )
    assert raised.value.status == 400


# ------------------------------------------------------------------ associations
def test_given_seeded_contact_when_company_associations_listed_then_type_279(
    hs: HubSpot,
) -> None:
    ben = contact(hs, BEN, "associatedcompanyid")
    page = hs.crm.associations.v4.basic_api.get_page("contacts", ben.id, "companies")
    assert len(page.results) == 1
    assert page.results[0].association_types[0].type_id == 279
    assert page.results[0].to_object_id == ben.properties["associatedcompanyid"]
    back = hs.crm.associations.v4.basic_api.get_page(
        "companies", page.results[0].to_object_id, "contacts"
    )
    assert ben.id in {r.to_object_id for r in back.results}
    assert {t.type_id for r in back.results for t in r.association_types} == {280}


def test_given_contact_and_company_when_default_and_labelled_associations_made_then_listed(
    hs: HubSpot,
) -> None:
    ben = contact(hs, BEN)
    company = hs.crm.companies.basic_api.create(
        CompanyInput(properties={"name": "Extra", "domain": "extra.example.com"})
    )
    default = hs.crm.associations.v4.basic_api.create_default(
        "contacts", ben.id, "companies", company.id
    )
    assert default.results[0].association_spec.association_type_id == 279
    labelled = hs.crm.associations.v4.basic_api.create(
        "contacts",
        ben.id,
        "companies",
        company.id,
        [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=1)],
    )
    assert labelled.labels == ["Primary"]
    page = hs.crm.associations.v4.basic_api.get_page("contacts", ben.id, "companies")
    types = {r.to_object_id: {t.type_id for t in r.association_types} for r in page.results}
    assert types[company.id] == {1, 279}
    hs.crm.associations.v4.basic_api.archive("contacts", ben.id, "companies", company.id)
    page = hs.crm.associations.v4.basic_api.get_page("contacts", ben.id, "companies")
    assert company.id not in {r.to_object_id for r in page.results}


def test_given_company_when_contact_created_with_association_279_then_linked(
    hs: HubSpot,
) -> None:
    """A create's associations accept the documented unlabeled contact-to-company type 279,
    as well as the primary type 1: "associate it with an existing company in a single request"
    https://developers.hubspot.com/docs/api-reference/latest/crm/associations/overview"""
    company = hs.crm.companies.basic_api.create(CompanyInput(properties={"name": "Linked GmbH"}))
    created = hs.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={"email": "linked@example.com"},
            associations=[
                {
                    "to": {"id": company.id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
                }
            ],
        )
    )
    page = hs.crm.associations.v4.basic_api.get_page("contacts", created.id, "companies")
    assert [(r.to_object_id, r.association_types[0].type_id) for r in page.results] == [
        (company.id, 279)
    ]


def test_given_associations_parameter_when_contacts_listed_then_each_carries_its_companies(
    hs: HubSpot,
) -> None:
    """The v3 list, like the read by id, takes ``associations=`` and answers each record's
    associated ids under ``associations`` ("Retrieve records": list all records of an object,
    with properties and associations to return), as in
    https://developers.hubspot.com/docs/guides/crm/using-object-apis"""
    ben = contact(hs, BEN)
    expected = {
        r.to_object_id
        for r in hs.crm.associations.v4.basic_api.get_page("contacts", ben.id, "companies").results
    }
    page = hs.crm.contacts.basic_api.get_page(limit=100, associations=["companies"])
    listed = next(r for r in page.results if r.id == ben.id)
    assert listed.associations is not None
    results = listed.associations["companies"].results
    assert {a.id for a in results} == expected and expected
    assert {a.type for a in results} == {"contact_to_company"}


def test_given_pairs_when_batch_associated_and_read_then_associations_reported(
    hs: HubSpot,
) -> None:
    ben, marie = contact(hs, BEN), contact(hs, MARIE)
    company = hs.crm.companies.basic_api.create(CompanyInput(properties={"name": "B"}))
    batch = hs.crm.associations.v4.batch_api
    created = batch.create_default(
        "contacts",
        "companies",
        {
            "inputs": [
                {"from": {"id": ben.id}, "to": {"id": company.id}},
                {"from": {"id": marie.id}, "to": {"id": company.id}},
            ]
        },
    )
    assert len(created.results) == 2
    read = batch.get_page("contacts", "companies", {"inputs": [{"id": ben.id}]})
    assert company.id in {t.to_object_id for t in read.results[0].to}


def test_given_contact_when_task_created_with_association_204_then_task_linked(
    hs: HubSpot,
) -> None:
    ben = contact(hs, BEN)
    task = hs.crm.objects.tasks.basic_api.create(
        ObjectInputForCreate(
            properties={
                "hs_timestamp": "2025-03-04T09:00:00.000Z",
                "hs_task_subject": "Call back",
                "hs_task_body": "NPS 3",
                "hs_task_status": "NOT_STARTED",
                "hs_task_priority": "HIGH",
                "hubspot_owner_id": "1001",
            },
            associations=[
                {
                    "to": {"id": ben.id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}],
                }
            ],
        )
    )
    linked = hs.crm.associations.v4.basic_api.get_page("tasks", task.id, "contacts")
    assert [r.to_object_id for r in linked.results] == [ben.id]
    assert linked.results[0].association_types[0].type_id == 204
    stored = hs.crm.objects.tasks.basic_api.get_by_id(task.id, properties=["hs_task_priority"])
    assert stored.properties["hs_task_priority"] == "HIGH"


def test_given_bad_task_status_when_task_created_then_invalid_option(hs: HubSpot) -> None:
    from hubspot.crm.objects.tasks import ApiException as ObjectsApiException

    with pytest.raises(ObjectsApiException) as raised:
        hs.crm.objects.tasks.basic_api.create(
            ObjectInputForCreate(properties={"hs_task_status": "MAYBE"})
        )
    assert body_of(raised.value)["errors"][0]["code"] == "INVALID_OPTION"


# -------------------------------------------------------------------- properties
def test_given_group_and_properties_when_created_then_readable_and_listed(hs: HubSpot) -> None:
    install(hs)
    read = hs.crm.properties.core_api.get_by_name("contacts", "cx_nps_category")
    assert (read.type, read.field_type, read.group_name) == ("enumeration", "select", "cx360")
    assert [o.value for o in read.options] == ["promoter", "passive", "detractor"]
    names = {p.name for p in hs.crm.properties.core_api.get_all("contacts").results}
    assert {
        "cx_nps_category",
        "cx_nps_score",
        "email",
        "firstname",
        "lastname",
        "hubspot_owner_id",
        "hs_object_id",
        "createdate",
        "lastmodifieddate",
    } <= names
    groups = {g.name for g in hs.crm.properties.groups_api.get_all("contacts").results}
    assert "cx360" in groups
    assert hs.crm.properties.groups_api.get_by_name("contacts", "cx360").label == "cx360"


@pytest.mark.parametrize("kind", ["property", "group"])
def test_given_existing_name_when_created_again_then_409(hs: HubSpot, kind: str) -> None:
    install(hs)
    with pytest.raises(PropertiesApiException) as raised:
        if kind == "property":
            hs.crm.properties.core_api.create("contacts", SCORE)
        else:
            hs.crm.properties.groups_api.create(
                "contacts", PropertyGroupCreate(name="cx360", label="again")
            )
    assert raised.value.status == 409


def test_given_incompatible_field_type_when_property_created_then_400(hs: HubSpot) -> None:
    with pytest.raises(PropertiesApiException) as raised:
        hs.crm.properties.core_api.create(
            "contacts",
            PropertyCreate(
                name="cx_bad",
                label="Bad",
                type="number",
                field_type="select",
                group_name="contactinformation",
            ),
        )
    assert raised.value.status == 400 and body_of(raised.value)["category"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("object_type", ["tasks", "notes"])
def test_given_activity_when_unique_property_created_then_400_validation_error(
    hs: HubSpot, object_type: str
) -> None:
    """HubSpot documents unique-value properties for companies, deals, tickets and custom
    objects, and for new contact properties
    (https://developers.hubspot.com/changelog/unique-properties-for-contacts); nothing
    documents them on activities, so the sandbox refuses ``hasUniqueValue`` there (strict)
    with HubSpot's validation error shape."""
    with pytest.raises(PropertiesApiException) as raised:
        hs.crm.properties.core_api.create(
            object_type,
            PropertyCreate(name="cx_key", label="Key", type="string", field_type="text",
                           group_name=f"{object_type[:-1]}information", has_unique_value=True),
        )  # fmt: skip
    body = body_of(raised.value)
    assert raised.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    assert "hasUniqueValue" in body["message"]
    names = {p.name for p in hs.crm.properties.core_api.get_all(object_type).results}
    assert "cx_key" not in names


@pytest.mark.parametrize("object_type", ["contacts", "companies"])
def test_given_contact_or_company_when_unique_property_created_then_it_is_unique(
    hs: HubSpot, object_type: str
) -> None:
    """Unique-value properties where HubSpot documents them
    (https://developers.hubspot.com/changelog/unique-properties-for-contacts)."""
    group = "contactinformation" if object_type == "contacts" else "companyinformation"
    made = hs.crm.properties.core_api.create(
        object_type,
        PropertyCreate(name="cx_ext_id", label="Ext id", type="string", field_type="text",
                       group_name=group, has_unique_value=True),
    )  # fmt: skip
    assert made.has_unique_value is True


def test_given_task_properties_when_listed_then_task_fields_present(hs: HubSpot) -> None:
    names = {p.name for p in hs.crm.properties.core_api.get_all("tasks").results}
    assert {
        "hs_timestamp",
        "hs_task_subject",
        "hs_task_body",
        "hs_task_status",
        "hs_task_priority",
        "hubspot_owner_id",
    } <= names


# ------------------------------------------------------------------------ scopes
def test_given_token_without_write_scope_when_writing_then_403_missing_scopes_reads_work(
    hs: HubSpot, sandbox: SandboxServer
) -> None:
    """A call outside the token's scopes answers 403 ``MISSING_SCOPES`` naming the scopes
    that would do (https://developers.hubspot.com/docs/api-reference/error-handling, "403
    Forbidden"); tasks need the contacts' object scopes
    (https://developers.hubspot.com/docs/api-reference/latest/crm/activities/tasks/guide)."""
    read_only = [s for s in HUBSPOT_SCOPES if not s.endswith(".write")]
    sandbox.admin.set_credentials(hubspot_scopes=read_only)  # the reset restores them
    ben = contact(hs, BEN)  # reading is in scope
    writes = (
        lambda: hs.crm.contacts.basic_api.update(
            ben.id, SimplePublicObjectInput(properties={"firstname": "B"})
        ),
        lambda: hs.crm.objects.tasks.basic_api.create(
            ObjectInputForCreate(properties={"hs_task_subject": "x"})
        ),
    )
    for write in writes:
        with pytest.raises((ContactsApiException, TasksApiException)) as raised:
            write()
        body = body_of(raised.value)
        assert raised.value.status == 403 and body["category"] == "MISSING_SCOPES"
        assert body["errors"][0]["context"] == {
            "requiredGranularScopes": ["crm.objects.contacts.write"]
        }


def test_given_private_app_token_when_introspected_then_its_scopes(
    sandbox: SandboxServer,
) -> None:
    """``POST /oauth/v2/private-apps/get/access-token-info`` with ``{"tokenKey": …}`` answers
    the private app token's ``userId``, ``hubId``, ``appId`` and ``scopes``
    (https://developers.hubspot.com/docs/api/private-apps); an unknown token is refused."""
    url = f"{sandbox.url}/oauth/v2/private-apps/get/access-token-info"
    ca = str(sandbox.ca_path)
    sandbox.admin.set_credentials(hubspot_scopes=["crm.objects.contacts.read"])
    info = requests.post(url, json={"tokenKey": "sandbox-hubspot-token"}, verify=ca, timeout=10)
    assert info.status_code == 200
    assert set(info.json()) == {"userId", "hubId", "appId", "scopes"}
    assert info.json()["scopes"] == ["crm.objects.contacts.read"]
    refused = requests.post(url, json={"tokenKey": "pat-na1-unknown"}, verify=ca, timeout=10)
    assert refused.status_code == 401


# ------------------------------------------------------------------------- OAuth
def test_given_refresh_token_when_exchanged_then_new_access_token_works(
    sandbox: SandboxServer,
) -> None:
    anonymous = HubSpot(host=sandbox.url, ssl_ca_cert=str(sandbox.ca_path))
    tokens = anonymous.oauth.tokens_api.create(
        grant_type="refresh_token",
        client_id="sandbox-hubspot-client",
        client_secret="sandbox-hubspot-secret",
        refresh_token="sandbox-hubspot-refresh",
    )
    assert tokens.expires_in == 1800 and tokens.refresh_token == "sandbox-hubspot-refresh"
    client = HubSpot(
        access_token=tokens.access_token, host=sandbox.url, ssl_ca_cert=str(sandbox.ca_path)
    )
    assert contact(client, BEN).properties["email"] == BEN


def test_given_unknown_refresh_token_when_exchanged_then_400_bad_refresh_token(
    sandbox: SandboxServer,
) -> None:
    from hubspot.oauth import ApiException as OauthApiException

    anonymous = HubSpot(host=sandbox.url, ssl_ca_cert=str(sandbox.ca_path))
    with pytest.raises(OauthApiException) as raised:
        anonymous.oauth.tokens_api.create(
            grant_type="refresh_token",
            client_id="sandbox-hubspot-client",
            client_secret="sandbox-hubspot-secret",
            refresh_token="stale",
        )
    assert raised.value.status == 400 and body_of(raised.value)["status"] == "BAD_REFRESH_TOKEN"


def test_given_wrong_token_when_called_then_401_invalid_authentication(
    sandbox: SandboxServer,
) -> None:
    client = HubSpot(access_token="wrong", host=sandbox.url, ssl_ca_cert=str(sandbox.ca_path))
    with pytest.raises(UnauthorizedException) as raised:
        contact(client, BEN)
    assert body_of(raised.value)["category"] == "INVALID_AUTHENTICATION"


def test_given_hubspot_only_sandbox_when_salesforce_path_called_then_404(
    sandbox_server: SandboxServer, tmp_path: Any
) -> None:
    with SandboxServer(crm="hubspot", state_dir=sandbox_server.state_dir) as only:
        session = requests.Session()
        session.verify, session.trust_env = str(only.ca_path), False
        assert session.get(f"{only.url}/services/data/v59.0/sobjects").status_code == 404
        client = HubSpot(
            access_token="sandbox-hubspot-token", host=only.url, ssl_ca_cert=str(only.ca_path)
        )
        assert contact(client, BEN).properties["email"] == BEN
