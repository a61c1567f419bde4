"""The Salesforce surface, driven only through simple-salesforce (``sf.restful`` where the
library has no helper), checked against CRM_API_NOTES.md."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

import jwt
import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from crm_sandbox import SandboxServer
from crm_sandbox.ids import to_18

BEN = "ben.weber@acme-maschinenbau.de"
MARIE = "marie.lange@nordlicht-logistik.de"
ABSENT_CONTACT = to_18("0035g000000ZZZZ")  # well-formed, no such record
ABSENT_ACCOUNT = to_18("0015g000000ZZZZ")
CATEGORY_FIELD = {
    "FullName": "Contact.CX_NPS_Category__c",
    "Metadata": {
        "label": "NPS Category",
        "type": "Picklist",
        "valueSet": {
            "restricted": True,
            "valueSetDefinition": {
                "sorted": False,
                "value": [
                    {"fullName": v, "label": v, "default": False}
                    for v in ("Promoter", "Passive", "Detractor")
                ],
            },
        },
    },
}
SCORE_FIELD = {
    "FullName": "Contact.CX_NPS_Score__c",
    "Metadata": {"label": "NPS Score", "type": "Number", "precision": 4, "scale": 1},
}
EXTERNAL_FIELD = {
    "FullName": "Contact.CX_External_Id__c",
    "Metadata": {
        "label": "cx360 id",
        "type": "Text",
        "length": 64,
        "externalId": True,
        "unique": True,
    },
}


def contact_id(sf: Salesforce, email: str) -> str:
    records = sf.query(f"SELECT Id FROM Contact WHERE Email = '{email}'")["records"]
    return str(records[0]["Id"])


def error_of(exc: Any) -> dict[str, Any]:
    """The first ``[{"message","errorCode","fields"}]`` entry of a client exception."""
    assert isinstance(exc.content, list), exc.content
    return dict(exc.content[0])


INTEGRATION_USER = "cx360@sandbox.example.com"  # the connected app's run-as user


def install_fields(sf: Salesforce, *bodies: dict[str, Any]) -> None:
    """Create the fields through the Tooling API and let the integration user see and edit
    them, as an admin must (field-level security: see ``grant_fields``)."""
    for body in bodies:
        reply = sf.toolingexecute("sobjects/CustomField", method="POST", data=body)
        assert reply["success"] is True and reply["id"].startswith("00N")
    grant_fields(sf, [str(body["FullName"]) for body in bodies])


def grant_fields(
    sf: Salesforce, fields: list[str], *, edit: bool = True, assign: bool = True
) -> str:
    """A permission set with read (and ``edit``) on ``fields`` ("Contact.X__c"), assigned to
    the integration user unless ``assign`` is false; returns its id."""
    permission_set = sf.PermissionSet.create({"Name": f"Test_{len(fields)}_{time.time_ns()}",
                                              "Label": "test"})["id"]  # fmt: skip
    for full in fields:
        sf.FieldPermissions.create({"ParentId": permission_set, "SobjectType": full.split(".")[0],
                                    "Field": full, "PermissionsRead": True,
                                    "PermissionsEdit": edit})  # fmt: skip
    if assign:
        assign_to_integration_user(sf, permission_set)
    return permission_set


def assign_to_integration_user(sf: Salesforce, permission_set: str) -> dict[str, Any]:
    user = sf.query(f"SELECT Id FROM User WHERE Username = '{INTEGRATION_USER}'")["records"][0]
    return dict(sf.PermissionSetAssignment.create(
        {"AssigneeId": user["Id"], "PermissionSetId": permission_set}))  # fmt: skip


# ------------------------------------------------------------------------- OAuth
def test_given_client_credentials_when_token_requested_then_access_token_and_instance_url(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    reply = http.post(
        sandbox.salesforce_token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": "sandbox-client",
            "client_secret": "sandbox-secret",
        },
    )
    body = reply.json()
    # CRM_API_NOTES: token reply has access_token and instance_url
    assert reply.status_code == 200
    assert body["instance_url"] == sandbox.url
    assert body["access_token"] and body["token_type"] == "Bearer"


@pytest.mark.parametrize(
    ("form", "error"),
    [
        (
            {
                "grant_type": "client_credentials",
                "client_id": "sandbox-client",
                "client_secret": "wrong",
            },
            "invalid_client",
        ),
        ({"grant_type": "password", "username": "x", "password": "y"}, "unsupported_grant_type"),
    ],
)
def test_given_bad_credentials_when_token_requested_then_400_with_error_and_description(
    sandbox: SandboxServer, http: requests.Session, form: dict[str, str], error: str
) -> None:
    reply = http.post(sandbox.salesforce_token_url, data=form)
    assert reply.status_code == 400
    assert reply.json()["error"] == error and reply.json()["error_description"]


def _assertion(private_key: str, **overrides: Any) -> str:
    claims = {
        "iss": "sandbox-client",
        "sub": "cx360@sandbox.example.com",
        "aud": "https://login.salesforce.com",
        "exp": int(time.time()) + 180,
    }
    claims.update(overrides)
    return jwt.encode(claims, private_key, algorithm="RS256")


def test_given_jwt_signed_by_registered_certificate_when_token_requested_then_session_works(
    sandbox: SandboxServer, http: requests.Session, jwt_keypair: tuple[str, str]
) -> None:
    reply = http.post(
        sandbox.salesforce_token_url,
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": _assertion(jwt_keypair[0]),
        },
    )
    assert reply.status_code == 200
    sf = Salesforce(
        instance_url=reply.json()["instance_url"],
        session_id=reply.json()["access_token"],
        session=http,
    )
    assert sf.query("SELECT Id FROM Contact")["totalSize"] > 0


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"exp": int(time.time()) - 10}, "invalid_grant"),
        ({"aud": "https://example.com"}, "invalid_grant"),
        ({"sub": "someone@else.example.com"}, "invalid_grant"),
        ({"iss": "other-client"}, "invalid_client_id"),
    ],
)
def test_given_bad_jwt_claims_when_token_requested_then_400_invalid_grant_or_client(
    sandbox: SandboxServer,
    http: requests.Session,
    jwt_keypair: tuple[str, str],
    overrides: dict[str, Any],
    error: str,
) -> None:
    reply = http.post(
        sandbox.salesforce_token_url,
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": _assertion(jwt_keypair[0], **overrides),
        },
    )
    assert reply.status_code == 400
    assert reply.json()["error"] == error


def test_given_jwt_signed_by_unknown_key_when_token_requested_then_invalid_grant(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    reply = http.post(
        sandbox.salesforce_token_url,
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": _assertion(other),
        },
    )
    assert (reply.status_code, reply.json()["error"]) == (400, "invalid_grant")


# ---------------------------------------------------------------------- sObjects
def test_given_seeded_contact_when_get_then_record_with_attributes_and_typed_fields(
    sf: Salesforce,
) -> None:
    record = sf.Contact.get(contact_id(sf, BEN))
    assert record["attributes"]["type"] == "Contact"
    assert record["attributes"]["url"].endswith(record["Id"])
    assert len(record["Id"]) == 18 and record["Id"].startswith("003")
    assert (record["FirstName"], record["LastName"], record["Name"]) == (
        "Ben",
        "Weber",
        "Ben Weber",
    )
    assert record["AccountId"].startswith("001") and record["OwnerId"].startswith("005")
    assert record["HasOptedOutOfEmail"] is False


def test_given_new_contact_when_created_updated_and_deleted_then_each_step_shows(
    sf: Salesforce,
) -> None:
    created = sf.Contact.create({"LastName": "Neu", "Email": "neu@example.com"})
    # CRM_API_NOTES: POST sobjects/Contact/ -> 201 {"id","success":true,"errors":[]}
    assert created["success"] is True and created["errors"] == []
    assert sf.Contact.update(created["id"], {"FirstName": "Nina"}) == 204
    assert sf.Contact.get(created["id"])["Name"] == "Nina Neu"
    assert sf.Contact.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound) as raised:
        sf.Contact.get(created["id"])
    assert error_of(raised.value)["errorCode"] == "NOT_FOUND"


def test_given_external_id_field_when_upserted_twice_then_created_then_updated(
    sf: Salesforce,
) -> None:
    install_fields(sf, EXTERNAL_FIELD)
    first = sf.Contact.upsert("CX_External_Id__c/ext-1", {"LastName": "Ext"}, raw_response=True)
    second = sf.Contact.upsert("CX_External_Id__c/ext-1", {"FirstName": "Eva"}, raw_response=True)
    assert (first.status_code, first.json()["created"]) == (201, True)
    assert (second.status_code, second.json()["created"]) == (200, False)
    assert first.json()["id"] == second.json()["id"]
    assert sf.Contact.get_by_custom_id("CX_External_Id__c", "ext-1")["Name"] == "Eva Ext"


def test_given_email_shared_by_two_contacts_when_get_by_email_then_300_more_than_one(
    sf: Salesforce,
) -> None:
    sf.Contact.create({"LastName": "Twin", "Email": BEN})
    with pytest.raises(SalesforceMoreThanOneRecord):
        sf.Contact.get_by_custom_id("Email", BEN)


@pytest.mark.parametrize(
    ("record_id", "status_error"),
    [
        ("0035g00000ZZZZZZZZ", (SalesforceMalformedRequest, "MALFORMED_ID")),  # bad checksum
        ("0015g0000000001AAA", (SalesforceMalformedRequest, "MALFORMED_ID")),  # an Account id
        (ABSENT_CONTACT, (SalesforceResourceNotFound, "NOT_FOUND")),
        ("nonsense", (SalesforceResourceNotFound, "NOT_FOUND")),
    ],
)
def test_given_bad_or_missing_id_when_updated_then_salesforce_error_code(
    sf: Salesforce, record_id: str, status_error: tuple[type[Exception], str]
) -> None:
    exception, code = status_error
    with pytest.raises(exception) as raised:
        sf.Contact.update(record_id, {"FirstName": "X"})
    assert error_of(raised.value)["errorCode"] == code


# ----------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"Nope__c": "x"}, "INVALID_FIELD"),
        ({"HasOptedOutOfEmail": "yes"}, "JSON_PARSER_ERROR"),
        ({"CX_NPS_Score__c": "abc"}, "JSON_PARSER_ERROR"),
        ({"CX_NPS_Score__c": [9]}, "JSON_PARSER_ERROR"),
        ({"CX_NPS_Category__c": "Fan"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ({"CX_NPS_Score__c": 123456}, "NUMBER_OUTSIDE_VALID_RANGE"),
        ({"Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS"),
        ({"FirstName": "x" * 41}, "STRING_TOO_LONG"),
        ({"Name": "Read Only"}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ({"LastName": None}, "REQUIRED_FIELD_MISSING"),
        ({"AccountId": ABSENT_CONTACT}, "FIELD_INTEGRITY_EXCEPTION"),
        ({"AccountId": ABSENT_ACCOUNT}, "INVALID_CROSS_REFERENCE_KEY"),
    ],
)
def test_given_invalid_value_when_contact_updated_then_400_with_real_error_code(
    sf: Salesforce, body: dict[str, Any], code: str
) -> None:
    install_fields(sf, SCORE_FIELD, CATEGORY_FIELD)
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Contact.update(contact_id(sf, BEN), body)
    assert raised.value.status == 400
    error = error_of(raised.value)
    assert error["errorCode"] == code and error["message"]


def test_given_contact_without_last_name_when_created_then_required_field_missing(
    sf: Salesforce,
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Contact.create({"FirstName": "Only"})
    assert error_of(raised.value) == {
        "message": "Required fields are missing: [LastName]",
        "errorCode": "REQUIRED_FIELD_MISSING",
        "fields": ["LastName"],
    }


# ----------------------------------------------------------------- describe
def test_given_contact_when_described_then_fields_have_the_documented_keys(sf: Salesforce) -> None:
    described = sf.Contact.describe()
    fields = {f["name"]: f for f in described["fields"]}
    assert described["name"] == "Contact" and described["keyPrefix"] == "003"
    for name in ("Id", "FirstName", "LastName", "Name", "Email", "AccountId", "OwnerId"):
        assert name in fields
    documented = {
        "name",
        "label",
        "type",
        "length",
        "precision",
        "scale",
        "nillable",
        "createable",
        "updateable",
        "custom",
        "externalId",
        "picklistValues",
    }
    assert documented <= set(fields["Email"])
    assert fields["Email"]["type"] == "email" and fields["AccountId"]["type"] == "reference"
    assert fields["Name"]["updateable"] is False
    assert not any(f["custom"] for f in fields.values())


@pytest.mark.parametrize(
    ("sobject", "expected"),
    [
        ("Account", {"Id", "Name", "Website", "OwnerId"}),
        (
            "Task",
            {
                "Subject",
                "ActivityDate",
                "WhoId",
                "WhatId",
                "OwnerId",
                "Status",
                "Priority",
                "Description",
            },
        ),
    ],
)
def test_given_standard_object_when_described_then_standard_fields_present(
    sf: Salesforce, sobject: str, expected: set[str]
) -> None:
    assert expected <= {f["name"] for f in getattr(sf, sobject).describe()["fields"]}


def test_given_picklist_custom_field_when_created_then_describe_lists_values_and_it_is_writable(
    sf: Salesforce,
) -> None:
    install_fields(sf, CATEGORY_FIELD, SCORE_FIELD)
    fields = {f["name"]: f for f in sf.Contact.describe()["fields"]}
    category = fields["CX_NPS_Category__c"]
    assert category["type"] == "picklist" and category["custom"] is True
    assert category["restrictedPicklist"] is True
    assert category["picklistValues"][0] == {
        "active": True,
        "defaultValue": False,
        "label": "Promoter",
        "value": "Promoter",
    }
    assert (
        fields["CX_NPS_Score__c"]["type"],
        fields["CX_NPS_Score__c"]["precision"],
        fields["CX_NPS_Score__c"]["scale"],
    ) == ("double", 4, 1)
    cid = contact_id(sf, BEN)
    sf.Contact.update(cid, {"CX_NPS_Category__c": "Detractor", "CX_NPS_Score__c": 3})
    record = sf.Contact.get(cid)
    # numbers are stored typed and come back as numbers
    assert (record["CX_NPS_Category__c"], record["CX_NPS_Score__c"]) == ("Detractor", 3.0)


def test_given_picklist_value_with_own_label_when_described_then_label_and_api_name_differ(
    sf: Salesforce,
) -> None:
    """A picklist entry's ``label`` is the display text, its ``value`` the API name
    (fullName), as DescribeSObjectResult's PicklistEntry documents:
    https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_describesobjects_describesobjectresult.htm"""
    body = json.loads(json.dumps(CATEGORY_FIELD))
    body["Metadata"]["valueSet"]["valueSetDefinition"]["value"] = [
        {"fullName": "Promoter", "label": "Promoter (9-10)", "default": False},
        {"fullName": "Detractor", "label": "Detractor (0-6)", "default": False},
    ]
    install_fields(sf, body)
    fields = {f["name"]: f for f in sf.Contact.describe()["fields"]}
    entries = fields["CX_NPS_Category__c"]["picklistValues"]
    assert [(e["value"], e["label"]) for e in entries] == [
        ("Promoter", "Promoter (9-10)"),
        ("Detractor", "Detractor (0-6)"),
    ]
    # the API name is what a write carries
    assert sf.Contact.update(contact_id(sf, BEN), {"CX_NPS_Category__c": "Detractor"}) == 204


def test_given_existing_custom_field_when_created_again_then_duplicate_developer_name(
    sf: Salesforce,
) -> None:
    install_fields(sf, SCORE_FIELD)
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.toolingexecute("sobjects/CustomField", method="POST", data=SCORE_FIELD)
    assert error_of(raised.value)["errorCode"] == "DUPLICATE_DEVELOPER_NAME"


def test_given_custom_field_when_tooling_queried_and_patched_then_new_picklist_value_allowed(
    sf: Salesforce,
) -> None:
    install_fields(sf, CATEGORY_FIELD)
    found = sf.toolingexecute(
        "query/?q=SELECT+Id,+Metadata+FROM+CustomField+WHERE+TableEnumOrId+=+'Contact'"
        "+AND+DeveloperName+=+'CX_NPS_Category'"
    )
    assert found["totalSize"] == 1
    metadata = found["records"][0]["Metadata"]
    metadata["valueSet"]["valueSetDefinition"]["value"].append(
        {"fullName": "Unknown", "label": "Unknown", "default": False}
    )
    sf.toolingexecute(
        f"sobjects/CustomField/{found['records'][0]['Id']}",
        method="PATCH",
        data={"Metadata": metadata},
    )
    assert sf.Contact.update(contact_id(sf, BEN), {"CX_NPS_Category__c": "Unknown"}) == 204


def test_given_custom_field_when_deleted_through_tooling_then_gone_and_creatable_again(
    sf: Salesforce,
) -> None:
    """The Tooling API's CustomField supports REST DELETE (its "Supported REST API HTTP
    Methods": Query, GET, POST, PATCH, DELETE):
    https://developer.salesforce.com/docs/atlas.en-us.api_tooling.meta/api_tooling/tooling_api_objects_customfield.htm"""
    install_fields(sf, SCORE_FIELD)
    cid = contact_id(sf, BEN)
    sf.Contact.update(cid, {"CX_NPS_Score__c": 3})
    found = sf.toolingexecute(
        "query/?q=SELECT+Id+FROM+CustomField+WHERE+TableEnumOrId+=+'Contact'"
        "+AND+DeveloperName+=+'CX_NPS_Score'"
    )
    field_id = found["records"][0]["Id"]
    response = sf.session.delete(
        f"{sf.tooling_url}sobjects/CustomField/{field_id}", headers=sf.headers
    )
    assert (response.status_code, response.content) == (204, b"")
    assert "CX_NPS_Score__c" not in {f["name"] for f in sf.Contact.describe()["fields"]}
    assert "CX_NPS_Score__c" not in sf.Contact.get(cid)
    with pytest.raises(SalesforceResourceNotFound):
        sf.toolingexecute(f"sobjects/CustomField/{field_id}", method="DELETE")
    install_fields(sf, SCORE_FIELD)  # the name is free again


def test_given_org_when_global_describe_then_sobjects_listed_with_urls(sf: Salesforce) -> None:
    described = sf.describe()
    names = {o["name"]: o for o in described["sobjects"]}
    assert {"Account", "Contact", "Task", "User"} <= set(names)
    assert names["Contact"]["urls"]["describe"].endswith("/sobjects/Contact/describe")
    assert described["maxBatchSize"] == 200


# ---------------------------------------------------------------------- SOQL
def test_given_emails_when_queried_with_in_then_matching_contacts_case_insensitively(
    sf: Salesforce,
) -> None:
    result = sf.query(
        f"SELECT Id, Email, AccountId, Account.Name FROM Contact WHERE Email IN "
        f"('{BEN.upper()}', '{MARIE}', 'nobody@example.com')"
    )
    # CRM_API_NOTES: {"totalSize","done","records":[{"attributes":{"type","url"},...}]}
    assert result["totalSize"] == 2 and result["done"] is True
    assert {r["Email"] for r in result["records"]} == {BEN, MARIE}
    first = result["records"][0]
    assert set(first["attributes"]) == {"type", "url"}
    assert first["Account"]["Name"] in ("Acme Maschinenbau GmbH", "Nordlicht Logistik AG")


def test_given_ids_and_account_when_queried_then_id_in_and_account_filters_work(
    sf: Salesforce,
) -> None:
    ben = sf.Contact.get(contact_id(sf, BEN))
    by_id = sf.query(
        f"SELECT Id, Email FROM Contact WHERE Id IN ('{ben['Id']}', '{ben['Id'][:15]}')"
    )
    by_account = sf.query(
        f"SELECT Id, Email FROM Contact WHERE AccountId = '{ben['AccountId']}' "
        "ORDER BY Email LIMIT 2"
    )
    assert [r["Id"] for r in by_id["records"]] == [ben["Id"]]
    emails = [r["Email"] for r in by_account["records"]]
    assert len(emails) == 2 and emails == sorted(emails)
    count = sf.query(f"SELECT COUNT() FROM Contact WHERE AccountId = '{ben['AccountId']}'")
    assert count["totalSize"] >= 2 and count["records"] == []


def test_given_more_rows_than_a_batch_when_queried_then_paged_through_next_records_url(
    sandbox: SandboxServer, sf: Salesforce
) -> None:
    sandbox.admin.generate_contacts("salesforce", count=450, accounts=3)
    first = sf.query(
        "SELECT Id, Email FROM Contact WHERE Email LIKE 'bulk-%'",
        headers={"Sforce-Query-Options": "batchSize=200"},
    )
    assert (first["totalSize"], first["done"], len(first["records"])) == (450, False, 200)
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    everything = sf.query_all(
        "SELECT Id, Email FROM Contact WHERE Email LIKE 'bulk-%'",
        headers={"Sforce-Query-Options": "batchSize=200"},
    )
    assert len({r["Email"] for r in everything["records"]}) == 450
    assert sandbox.admin.stats()["endpoints"]["salesforce.query_more"] == 2


@pytest.mark.parametrize(
    ("soql", "code", "fragment"),
    [
        ("SELECT Id, Nope__c FROM Contact", "INVALID_FIELD", "No such column 'Nope__c' on entity"),
        ("SELECT Id FROM Contact WHERE Nope__c = 'x'", "INVALID_FIELD", "ERROR at Row:1:Column:"),
        ("SELECT Id FROM Widget__c", "INVALID_TYPE", "sObject type 'Widget__c' is not supported"),
        ("SELECT Id FROM Contact WHERE", "MALFORMED_QUERY", "unexpected"),
        (
            "SELECT Id FROM Contact WHERE Id = 'abc'",
            "INVALID_QUERY_FILTER_OPERATOR",
            "invalid ID field: abc",
        ),
    ],
)
def test_given_bad_soql_when_queried_then_400_in_salesforce_message_style(
    sf: Salesforce, soql: str, code: str, fragment: str
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.query(soql)
    error = error_of(raised.value)
    assert error["errorCode"] == code and fragment in error["message"]


# ------------------------------------------------------------------- Collections
def _records(sf: Salesforce, emails: list[str], **values: Any) -> list[dict[str, Any]]:
    return [{"attributes": {"type": "Contact"}, "id": contact_id(sf, e), **values} for e in emails]


def test_given_two_contacts_when_collection_updated_then_per_record_results_in_order(
    sf: Salesforce,
) -> None:
    install_fields(sf, SCORE_FIELD)
    records = [
        *_records(sf, [BEN, MARIE], CX_NPS_Score__c=9),
        {"attributes": {"type": "Contact"}, "id": "003xx", "CX_NPS_Score__c": 1},
    ]
    results = sf.restful(
        "composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records}
    )
    assert [r["success"] for r in results] == [True, True, False]
    # CRM_API_NOTES: per-record errors use the key statusCode, not errorCode
    assert results[2]["errors"][0]["statusCode"] == "MALFORMED_ID"
    assert sf.Contact.get(results[0]["id"])["CX_NPS_Score__c"] == 9.0


def test_given_one_bad_record_and_all_or_none_when_collection_updated_then_all_rolled_back(
    sf: Salesforce,
) -> None:
    install_fields(sf, CATEGORY_FIELD)
    records = _records(sf, [BEN], CX_NPS_Category__c="Promoter") + _records(
        sf, [MARIE], CX_NPS_Category__c="Fan"
    )
    results = sf.restful(
        "composite/sobjects", method="PATCH", json={"allOrNone": True, "records": records}
    )
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert sf.Contact.get(contact_id(sf, BEN))["CX_NPS_Category__c"] is None


def test_given_201_records_when_collection_sent_then_400_exceeded_id_limit(sf: Salesforce) -> None:
    # developer.salesforce.com (REST API guide, "Create Records Using sObject Collections",
    # checked with the search tool): up to 200 records; a malformed request answers 400
    records = [{"attributes": {"type": "Contact"}, "LastName": f"N{i}"} for i in range(201)]
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.restful("composite/sobjects", method="POST", json={"records": records})
    assert error_of(raised.value)["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_given_200_new_contacts_when_collection_created_then_all_created_with_ids(
    sandbox: SandboxServer, sf: Salesforce
) -> None:
    records = [
        {"attributes": {"type": "Contact"}, "LastName": f"N{i}", "Email": f"n{i}@example.com"}
        for i in range(200)
    ]
    results = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": False, "records": records}
    )
    assert len(results) == 200 and all(r["success"] and r["id"][:3] == "003" for r in results)
    stored = {r["Email"] for r in sandbox.admin.records("salesforce", "Contact")}
    assert {f"n{i}@example.com" for i in range(200)} <= stored


def test_given_external_ids_when_collection_upserted_then_created_flags_per_record(
    sf: Salesforce,
) -> None:
    install_fields(sf, EXTERNAL_FIELD)
    sf.Contact.upsert("CX_External_Id__c/e-1", {"LastName": "One"})
    records = [
        {"attributes": {"type": "Contact"}, "CX_External_Id__c": key, "LastName": name}
        for key, name in (("e-1", "Uno"), ("e-2", "Dos"))
    ]
    results = sf.restful(
        "composite/sobjects/Contact/CX_External_Id__c",
        method="PATCH",
        json={"allOrNone": False, "records": records},
    )
    assert [(r["success"], r["created"]) for r in results] == [(True, False), (True, True)]
    assert sf.Contact.get(results[0]["id"])["LastName"] == "Uno"


def test_given_unknown_field_when_collection_updated_then_whole_request_invalid_field(
    sf: Salesforce,
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.restful(
            "composite/sobjects", method="PATCH", json={"records": _records(sf, [BEN], Nope__c=1)}
        )
    assert error_of(raised.value)["errorCode"] == "INVALID_FIELD"


# ----------------------------------------------------------------- Bulk API 2.0
def test_given_csv_rows_when_bulk2_upserted_then_job_completes_with_failed_rows_reported(
    sandbox: SandboxServer, sf: Salesforce
) -> None:
    install_fields(sf, EXTERNAL_FIELD, CATEGORY_FIELD)
    rows = [
        {"CX_External_Id__c": "b-1", "LastName": "Bulk", "CX_NPS_Category__c": "Promoter"},
        {"CX_External_Id__c": "b-2", "LastName": "Bulk", "CX_NPS_Category__c": "Fan"},
        {"CX_External_Id__c": "b-3", "LastName": "Bulk", "CX_NPS_Category__c": "Detractor"},
    ]
    [result] = sf.bulk2.Contact.upsert(
        records=rows, external_id_field="CX_External_Id__c", wait=0.01
    )  # type: ignore[arg-type]
    assert (result["numberRecordsProcessed"], result["numberRecordsFailed"]) == (3, 1)
    failed = list(
        csv.DictReader(io.StringIO(sf.bulk2.Contact.get_failed_records(result["job_id"])))
    )
    # CRM_API_NOTES: failedResults CSV sf__Id,sf__Error,... (read the header row)
    assert [r["CX_External_Id__c"] for r in failed] == ["b-2"]
    assert failed[0]["sf__Id"] == ""  # a failed insert has no record
    assert failed[0]["sf__Error"].startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
    succeeded = list(
        csv.DictReader(io.StringIO(sf.bulk2.Contact.get_successful_records(result["job_id"])))
    )
    assert {r["sf__Created"] for r in succeeded} == {"true"} and len(succeeded) == 2
    stored = {r.get("CX_External_Id__c") for r in sandbox.admin.records("salesforce", "Contact")}
    assert {"b-1", "b-3"} <= stored and "b-2" not in stored


def test_given_unknown_column_when_bulk2_job_closed_then_job_failed(sf: Salesforce) -> None:
    from simple_salesforce.exceptions import SalesforceOperationError

    with pytest.raises(SalesforceOperationError, match="Field name not found : Nope__c"):
        sf.bulk2.Contact.insert(records=[{"LastName": "X", "Nope__c": "1"}], wait=0.01)  # type: ignore[arg-type]


def test_given_number_field_when_bulk2_row_not_a_number_then_invalid_type_on_field_in_record(
    sf: Salesforce,
) -> None:
    install_fields(sf, SCORE_FIELD)
    rows = [
        {"Id": contact_id(sf, BEN), "CX_NPS_Score__c": "abc"},
        {"Id": contact_id(sf, MARIE), "CX_NPS_Score__c": "7"},
    ]
    [result] = sf.bulk2.Contact.update(records=rows, wait=0.01)  # type: ignore[arg-type]
    failed = list(
        csv.DictReader(io.StringIO(sf.bulk2.Contact.get_failed_records(result["job_id"])))
    )
    assert failed[0]["sf__Error"].startswith("INVALID_TYPE_ON_FIELD_IN_RECORD")
    # sf__Id is "ID of the record that had an error during processing" (API 53+):
    # https://developer.salesforce.com/docs/platform/api-asynch/guide/get-job-failed-results.html
    assert failed[0]["sf__Id"] == contact_id(sf, BEN)
    assert sf.Contact.get(contact_id(sf, MARIE))["CX_NPS_Score__c"] == 7.0


# ---------------------------------------------------------------------- Tasks
def test_given_contact_when_task_created_then_stored_with_defaults_and_links(
    sf: Salesforce,
) -> None:
    ben = sf.Contact.get(contact_id(sf, BEN))
    created = sf.Task.create(
        {
            "Subject": "Call back: detractor",
            "ActivityDate": "2025-03-04",
            "WhoId": ben["Id"],
            "WhatId": ben["AccountId"],
            "OwnerId": ben["OwnerId"],
            "Priority": "High",
            "Description": "NPS 3",
        }
    )
    task = sf.Task.get(created["id"])
    assert created["id"].startswith("00T")
    assert (task["Status"], task["Priority"], task["ActivityDate"], task["WhoId"]) == (
        "Not Started",
        "High",
        "2025-03-04",
        ben["Id"],
    )


# ----------------------------------------------------------------- usage header
def test_given_requests_when_answered_then_every_reply_carries_sforce_limit_info(
    sf: Salesforce,
) -> None:
    sf.query("SELECT Id FROM Contact")
    first = sf.api_usage["api-usage"]
    sf.query("SELECT Id FROM Contact")
    second = sf.api_usage["api-usage"]
    # developer.salesforce.com (REST API guide, "Limit Info Header", checked with the search
    # tool): Sforce-Limit-Info: api-usage=USED/LIMIT on each REST API response
    assert (second.used, second.total) == (first.used + 1, 15000)
    with pytest.raises(SalesforceResourceNotFound) as raised:
        sf.Contact.get(ABSENT_CONTACT)
    assert raised.value.url and "Sforce-Limit-Info" not in str(raised.value.content)


# ------------------------------------------------------------- field-level security
# A field created through the Tooling API grants nobody access. "To grant a user access to a
# field, associate a FieldPermissions record with a PermissionSet that's assigned to a user"
# (developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/
# sforce_api_objects_fieldpermissions.htm); assignments are PermissionSetAssignment records
# (…/sforce_api_objects_permissionsetassignment.htm). Without read access the field is not in
# the user's describe and the API refuses it like an unknown field (salesforce.stackexchange.com
# question 208307; help.salesforce.com "Field-Level Security").
def _field_names(sf: Salesforce) -> set[str]:
    return {f["name"] for f in sf.Contact.describe()["fields"]}


def _refusal(call: Any) -> dict[str, Any]:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        call()
    return error_of(caught.value)


def test_given_a_field_created_through_tooling_when_not_granted_then_hidden_from_the_api(
    sf: Salesforce,
) -> None:
    reply = sf.toolingexecute("sobjects/CustomField", method="POST", data=SCORE_FIELD)
    contact = contact_id(sf, BEN)

    assert reply["success"] is True
    assert "CX_NPS_Score__c" not in _field_names(sf)
    written = _refusal(lambda: sf.Contact.update(contact, {"CX_NPS_Score__c": 9}))
    assert written["errorCode"] == "INVALID_FIELD"
    read = _refusal(lambda: sf.query("SELECT CX_NPS_Score__c FROM Contact"))
    assert read["errorCode"] == "INVALID_FIELD"
    # the Tooling API still knows it: a second create is refused, a query finds it
    found = sf.toolingexecute("query/?q=SELECT+Id+FROM+CustomField+WHERE+DeveloperName"
                              "+%3D+%27CX_NPS_Score%27")  # fmt: skip
    assert found["size"] == 1


def test_given_a_granting_permission_set_when_assigned_then_the_field_appears_not_before(
    sf: Salesforce,
) -> None:
    sf.toolingexecute("sobjects/CustomField", method="POST", data=SCORE_FIELD)
    permission_set = grant_fields(sf, ["Contact.CX_NPS_Score__c"], assign=False)
    assert "CX_NPS_Score__c" not in _field_names(sf)  # granted, but not to this user

    assigned = assign_to_integration_user(sf, permission_set)
    contact = contact_id(sf, BEN)
    sf.Contact.update(contact, {"CX_NPS_Score__c": 9})

    assert assigned["success"] is True and assigned["id"].startswith("0Pa")
    assert "CX_NPS_Score__c" in _field_names(sf)
    assert sf.Contact.get(contact)["CX_NPS_Score__c"] == 9
    again = _refusal(lambda: assign_to_integration_user(sf, permission_set))
    assert again["errorCode"] == "DUPLICATE_VALUE"


def test_given_read_only_field_permission_when_written_then_refused_and_not_updateable(
    sf: Salesforce,
) -> None:
    sf.toolingexecute("sobjects/CustomField", method="POST", data=SCORE_FIELD)
    grant_fields(sf, ["Contact.CX_NPS_Score__c"], edit=False)
    described = {f["name"]: f for f in sf.Contact.describe()["fields"]}

    assert described["CX_NPS_Score__c"]["updateable"] is False
    assert described["CX_NPS_Score__c"]["createable"] is False
    refused = _refusal(lambda: sf.Contact.update(contact_id(sf, BEN), {"CX_NPS_Score__c": 9}))
    assert refused["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert sf.query("SELECT CX_NPS_Score__c FROM Contact LIMIT 1")["totalSize"] == 1


def test_given_edit_without_read_when_field_permission_created_then_refused(
    sf: Salesforce,
) -> None:
    sf.toolingexecute("sobjects/CustomField", method="POST", data=SCORE_FIELD)
    permission_set = sf.PermissionSet.create({"Name": "Edit_Only", "Label": "Edit only"})["id"]

    refused = _refusal(lambda: sf.FieldPermissions.create(
        {"ParentId": permission_set, "SobjectType": "Contact", "Field": "Contact.CX_NPS_Score__c",
         "PermissionsRead": False, "PermissionsEdit": True}))  # fmt: skip

    assert refused["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
