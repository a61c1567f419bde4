"""Every HubSpot reply the sandbox gives for the operations cx360 uses, checked against the
vendor's schema as hubspot-api-client's generated models declare it (the client is generated
from HubSpot's published OpenAPI specifications).

cx360 reads replies raw (``_preload_content=False``), so the library never checks them on
its way; here each reply is deserialised into the model the library maps its status to, with
client-side validation on (required fields present, enums and dates valid), and every key of
the JSON must be one the model declares. A shape drift of the sandbox fails this suite.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException as ContactsApiException

BEN = "ben.weber@acme-maschinenbau.de"
MARIE = "marie.lange@nordlicht-logistik.de"


def _model_for(api: Any, types: dict[int, str], raw: Any) -> Any:
    """The reply deserialised as the library would for its status, validation on."""
    client = api.api_client
    # hubspot-api-client builds its clients with validation off; the models then accept
    # anything, so it is turned on for the check
    client.configuration.client_side_validation = True
    assert raw.status in types, f"status {raw.status} is not a documented reply: {raw!r}"

    class _Response:
        data = getattr(raw, "data", None) or getattr(raw, "body", None)

    return client.deserialize(_Response(), types[raw.status])


def _undeclared(data: Any, model: Any, path: str = "$") -> list[str]:
    """JSON keys anywhere in ``data`` that the model at that place does not declare."""
    if isinstance(data, list):
        return [
            k for i, item in enumerate(data) for k in _undeclared(item, model[i], f"{path}[{i}]")
        ]
    if not isinstance(data, dict) or not hasattr(model, "attribute_map"):
        if isinstance(data, dict) and isinstance(model, dict):
            return [
                k for key, v in data.items() for k in _undeclared(v, model[key], f"{path}.{key}")
            ]
        return []
    by_json_name = {json_name: attr for attr, json_name in model.attribute_map.items()}
    found = []
    for key, value in data.items():
        if key not in by_json_name:
            found.append(f"{path}.{key}")
            continue
        found.extend(_undeclared(value, getattr(model, by_json_name[key]), f"{path}.{key}"))
    return found


def conforms(api: Any, types: dict[int, str], call: Callable[..., Any]) -> Any:
    """Make ``call`` raw through ``api``; the reply's model, after checking it conforms."""
    raw = call(_preload_content=False)
    model = _model_for(api, types, raw)
    assert _undeclared(json.loads(raw.data), model) == []
    return model


BATCH = {
    200: "BatchResponseSimplePublicObject",
    201: "BatchResponseSimplePublicObject",
    207: "BatchResponseSimplePublicObjectWithErrors",
}
UPSERT = {
    200: "BatchResponseSimplePublicUpsertObject",
    207: "BatchResponseSimplePublicUpsertObjectWithErrors",
}


def test_given_cx360_install_calls_when_answered_then_property_models_validate(
    hs: HubSpot,
) -> None:
    groups = hs.crm.properties.groups_api
    core = hs.crm.properties.core_api
    conforms(
        groups,
        {200: "CollectionResponsePropertyGroupNoPaging"},
        lambda **kw: groups.get_all_with_http_info("contacts", **kw),
    )
    conforms(
        groups,
        {201: "PropertyGroup"},
        lambda **kw: groups.create_with_http_info(
            "contacts", {"name": "cx360", "label": "cx360", "displayOrder": -1}, **kw
        ),
    )
    conforms(
        core,
        {200: "CollectionResponsePropertyNoPaging"},
        lambda **kw: core.get_all_with_http_info("tasks", **kw),
    )
    spec = {
        "name": "cx_nps_category",
        "label": "NPS category",
        "type": "enumeration",
        "fieldType": "select",
        "groupName": "cx360",
        "options": [
            {"label": "Promoter", "value": "promoter", "displayOrder": 0, "hidden": False},
            {"label": "Detractor", "value": "detractor", "displayOrder": 1, "hidden": False},
        ],
    }
    created = conforms(
        core,
        {201: "ModelProperty"},
        lambda **kw: core.create_with_http_info("contacts", spec, **kw),
    )
    assert created.name == "cx_nps_category"
    conforms(
        core,
        {200: "ModelProperty"},
        lambda **kw: core.get_by_name_with_http_info("contacts", "cx_nps_category", **kw),
    )
    updated = conforms(
        core,
        {200: "ModelProperty"},
        lambda **kw: core.update_with_http_info(
            "contacts", "cx_nps_category", {"label": "NPS category (cx360)"}, **kw
        ),
    )
    assert updated.label == "NPS category (cx360)"


def test_given_cx360_read_and_write_calls_when_answered_then_object_models_validate(
    hs: HubSpot,
) -> None:
    contacts = hs.crm.contacts
    page = contacts.basic_api
    conforms(
        page,
        {200: "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging"},
        lambda **kw: page.get_page_with_http_info(limit=1, **kw),
    )
    batch = contacts.batch_api
    read = conforms(
        batch,
        BATCH,
        lambda **kw: batch.read_with_http_info(
            {
                "properties": ["email", "hubspot_owner_id", "associatedcompanyid"],
                "idProperty": "email",
                "inputs": [{"id": BEN}, {"id": MARIE}, {"id": "nobody@example.com"}],
            },
            **kw,
        ),
    )
    ids = [r.id for r in read.results]
    partly = conforms(
        batch,
        BATCH,
        lambda **kw: batch.update_with_http_info(
            {"inputs": [{"id": i, "objectWriteTraceId": i,
                         "properties": {"lifecyclestage": "nonsense" if n else "lead"}}
                        for n, i in enumerate(ids)]},
            **kw,
        ),
    )  # fmt: skip
    assert partly.num_errors == len(ids) - 1
    assert [r.object_write_trace_id for r in partly.results] == ids[:1]
    # without trace ids one bad input refuses the whole batch, with HubSpot's error body
    with pytest.raises(ContactsApiException) as raised:
        batch.update({"inputs": [{"id": i, "properties": {"lifecyclestage": "nonsense"}}
                                 for i in ids]})  # fmt: skip
    assert raised.value.status == 400
    error = _model_for(batch, {400: "Error"}, raised.value)
    # HubSpot's error bodies carry "status": "error" besides what the Error model declares
    # (developers.hubspot.com/docs/api-reference/error-handling, the example error)
    assert _undeclared(json.loads(raised.value.body), error) == ["$.status"]
    assert error.category == "VALIDATION_ERROR"
    updated = conforms(
        batch,
        BATCH,
        lambda **kw: batch.update_with_http_info(
            {"inputs": [{"id": i, "properties": {"lastname": "Weber"}} for i in ids]}, **kw
        ),
    )
    assert sorted(r.id for r in updated.results) == sorted(ids)
    search = hs.crm.companies.search_api
    conforms(
        search,
        {200: "CollectionResponseWithTotalSimplePublicObjectForwardPaging"},
        lambda **kw: search.do_search_with_http_info(
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "hs_object_id", "operator": "HAS_PROPERTY"}]}
                ],
                "properties": ["name", "domain"],
                "limit": 10,
            },
            **kw,
        ),
    )


def test_given_cx360_task_calls_when_answered_then_task_search_and_association_models_validate(
    hs: HubSpot,
) -> None:
    ben = hs.crm.contacts.basic_api.get_by_id(BEN, id_property="email")
    conforms(
        hs.crm.properties.core_api,
        {201: "ModelProperty"},
        lambda **kw: hs.crm.properties.core_api.create_with_http_info(
            "tasks",
            {"name": "cx360_follow_up_key", "label": "cx360 follow-up key", "type": "string",
             "fieldType": "text", "groupName": "taskinformation"},
            **kw,
        ),
    )  # fmt: skip
    task = {
        "objectWriteTraceId": "nps-1",
        "properties": {
            "hs_timestamp": "2025-03-04T09:00:00.000Z",
            "hs_task_subject": "Call back",
            "hs_task_body": "NPS 3",
            "hs_task_status": "NOT_STARTED",
            "hs_task_priority": "HIGH",
            "cx360_follow_up_key": "nps-1",
        },
    }
    refused = {**task, "objectWriteTraceId": "nps-2",
               "properties": {**task["properties"], "hs_task_priority": "URGENT"}}  # fmt: skip
    tasks = hs.crm.objects.tasks.batch_api
    written = conforms(
        tasks, BATCH, lambda **kw: tasks.create_with_http_info({"inputs": [task, refused]}, **kw)
    )
    assert written.num_errors == 1 and written.errors[0].context["objectWriteTraceId"] == ["nps-2"]
    [task_id] = [r.id for r in written.results]
    assert written.results[0].object_write_trace_id == "nps-1"
    search = hs.crm.objects.tasks.search_api
    found = conforms(
        search,
        {200: "CollectionResponseWithTotalSimplePublicObjectForwardPaging"},
        lambda **kw: search.do_search_with_http_info(
            {"filterGroups": [{"filters": [{"propertyName": "cx360_follow_up_key",
                                            "operator": "IN", "values": ["nps-1", "nps-2"]}]}],
             "properties": ["cx360_follow_up_key"], "limit": 100},
            **kw,
        ),
    )  # fmt: skip
    assert [r.id for r in found.results] == [task_id]
    links = hs.crm.associations.v4.batch_api
    linked = conforms(
        links,
        {200: "BatchResponsePublicDefaultAssociation"},
        lambda **kw: links.create_default_with_http_info(
            "tasks", "contacts", {"inputs": [{"from": {"id": task_id}, "to": {"id": ben.id}}]}, **kw
        ),
    )
    assert [r._from.id for r in linked.results] == [task_id]


def test_given_an_oauth_access_token_when_its_metadata_read_then_the_model_validates(
    hs: HubSpot,
) -> None:
    """``cx360 check`` reads an OAuth token's scopes from ``GET /oauth/v1/access-tokens/
    {token}``; the reply is hubspot-api-client's ``AccessTokenInfoResponse``."""
    token = hs.oauth.tokens_api.create(
        grant_type="refresh_token",
        client_id="sandbox-hubspot-client",
        client_secret="sandbox-hubspot-secret",
        refresh_token="sandbox-hubspot-refresh",
    ).access_token
    tokens = hs.oauth.access_tokens_api
    info = conforms(
        tokens,
        {200: "AccessTokenInfoResponse"},
        lambda **kw: tokens.get_with_http_info(token, **kw),
    )
    assert "crm.objects.contacts.write" in info.scopes
