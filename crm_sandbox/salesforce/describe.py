"""What the org says about itself: describe (global, per object, sObject basic info) and the
``/limits`` resource."""

from __future__ import annotations

from typing import Any

from crm_sandbox.replies import Reply
from crm_sandbox.routing import Routes
from crm_sandbox.salesforce.calls import API, Call
from crm_sandbox.salesforce.composite import MAX_COLLECTION

routes = Routes()


@routes.get(f"{API}/sobjects", "describe_global")
def describe_global(call: Call) -> Reply:
    return Reply(
        200,
        {
            "encoding": "UTF-8",
            "maxBatchSize": MAX_COLLECTION,
            "sobjects": [object_summary(o, call.version) for o in call.data.objects.values()],
        },
    )


def object_summary(obj: dict[str, Any], version: str) -> dict[str, Any]:
    base = f"/services/data/{version}/sobjects/{obj['name']}"
    return {
        "name": obj["name"],
        "label": obj["label"],
        "labelPlural": obj["labelPlural"],
        "keyPrefix": obj["keyPrefix"],
        "custom": obj["custom"],
        "createable": obj.get("createable", True),
        "updateable": True,
        "deletable": True,
        "queryable": True,
        "retrieveable": True,
        "searchable": True,
        "urls": {
            "sobject": base,
            "describe": f"{base}/describe",
            "rowTemplate": f"{base}/{{ID}}",
        },
    }


@routes.get(f"{API}/sobjects/<obj>/describe", "describe")
def describe(call: Call, obj: str) -> Reply:
    found = call.data.require_object(obj)
    body = object_summary(found, call.version)
    # only the fields field-level security lets the user see (data.field_access)
    body["fields"] = [dict(f) for f in call.data.visible_fields(found["name"]).values()]
    body["childRelationships"] = []
    body["recordTypeInfos"] = []
    return Reply(200, body)


@routes.get(f"{API}/sobjects/<obj>", "sobject.metadata")
def sobject_metadata(call: Call, obj: str) -> Reply:
    found = call.data.require_object(obj)
    return Reply(200, {"objectDescribe": object_summary(found, call.version), "recentItems": []})


@routes.get(f"{API}/limits", "limits")
def limits(call: Call) -> Reply:
    stats = call.controls.stats()["salesforce_api_usage"]
    return Reply(
        200,
        {
            "DailyApiRequests": {
                "Max": stats["limit"],
                "Remaining": stats["limit"] - stats["used"],
            }
        },
    )
