"""The Tooling API's ``CustomField``: create a custom field (``FullName`` + ``Metadata``, as
``cx360 install`` sends it), change its Metadata, delete it, and query the org's custom fields."""

from __future__ import annotations

from crm_sandbox.replies import Reply
from crm_sandbox.routing import Routes
from crm_sandbox.salesforce import soql
from crm_sandbox.salesforce.calls import API, Call
from crm_sandbox.salesforce.errors import not_found, sf_error, soql_error
from crm_sandbox.salesforce.evaluate import matches, row_getter
from crm_sandbox.salesforce.schema import field_from_metadata

CUSTOM_FIELD = f"{API}/tooling/sobjects/CustomField"

routes = Routes()


@routes.post(CUSTOM_FIELD, "tooling.custom_field.create")
def create_custom_field(call: Call) -> Reply:
    body = call.json_object()
    full_name = str(body.get("FullName") or "")
    metadata = body.get("Metadata")
    object_name, _, field_name = full_name.partition(".")
    if not field_name or not isinstance(metadata, dict):
        raise sf_error(
            400,
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [FullName, Metadata]",
            ["FullName", "Metadata"],
        )
    # Task (and Event) custom fields are defined on the Activity object, as in the
    # Metadata API (not confirmed against official docs with the search tool).
    obj = call.data.object_named("Task" if object_name == "Activity" else object_name)
    if obj is None:
        raise sf_error(
            400,
            "INVALID_CROSS_REFERENCE_KEY",
            f"Cannot find object: {object_name}",
            ["FullName"],
        )
    developer = field_name.removesuffix("__c")
    if (
        not field_name.endswith("__c")
        or not developer.replace("_", "").isalnum()
        or "__" in developer
        or not developer[:1].isalpha()
    ):
        raise sf_error(
            400,
            "INVALID_FIELD",
            f"Invalid field name: {field_name}. The name "
            "must begin with a letter, use only alphanumerics and single "
            "underscores, and end with __c",
            ["FullName"],
        )
    if field_name.lower() in obj["fields"]:
        raise sf_error(
            400,
            "DUPLICATE_DEVELOPER_NAME",
            f"There's already a field named {developer} on {obj['name']}.",
            ["FullName"],
        )
    try:
        new_field = field_from_metadata(field_name, metadata)
    except ValueError as exc:
        raise sf_error(400, "FIELD_INTEGRITY_EXCEPTION", str(exc), ["Metadata"]) from None
    call.data.add_field(obj["name"], new_field)
    field_id = call.data.ids.new("CustomField")
    call.data.custom_fields[f"{obj['name']}.{field_name}"] = field_id
    call.data.field_metadata[field_id] = metadata
    return Reply(201, {"id": field_id, "success": True, "errors": [], "warnings": [], "infos": []})


@routes.patch(f"{CUSTOM_FIELD}/<field_id>", "tooling.custom_field.update")
def update_custom_field(call: Call, field_id: str) -> Reply:
    """Change a custom field's Metadata (label, picklist values); the type stays."""
    full = next((k for k, v in call.data.custom_fields.items() if v == field_id), None)
    if full is None:
        raise not_found()
    metadata = call.json_object().get("Metadata")
    if not isinstance(metadata, dict):
        raise sf_error(
            400,
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [Metadata]",
            ["Metadata"],
        )
    object_name, _, field_name = full.partition(".")
    current = call.data.objects[object_name]["fields"][field_name.lower()]
    merged = {**(call.data.field_metadata.get(field_id) or {}), **metadata}
    if merged.get("type") != (call.data.field_metadata.get(field_id) or {}).get("type"):
        raise sf_error(
            400,
            "FIELD_INTEGRITY_EXCEPTION",
            "Cannot change the type of a field through this call",
            ["Metadata"],
        )
    try:
        updated = field_from_metadata(field_name, merged)
    except ValueError as exc:
        raise sf_error(400, "FIELD_INTEGRITY_EXCEPTION", str(exc), ["Metadata"]) from None
    for key in (
        "label",
        "picklistValues",
        "restrictedPicklist",
        "length",
        "precision",
        "scale",
        "externalId",
        "unique",
        "idLookup",
    ):
        current[key] = updated[key]
    call.data.field_metadata[field_id] = merged
    call.data.schema_changed()
    return Reply(204)


@routes.delete(f"{CUSTOM_FIELD}/<field_id>", "tooling.custom_field.delete")
def delete_custom_field(call: Call, field_id: str) -> Reply:
    """Delete a custom field: it leaves describe and every record (204 No Content)."""
    full = next((k for k, v in call.data.custom_fields.items() if v == field_id), None)
    if full is None:
        raise not_found()
    object_name, _, field_name = full.partition(".")
    call.data.remove_field(object_name, field_name)
    del call.data.custom_fields[full]
    call.data.field_metadata.pop(field_id, None)
    return Reply(204)


@routes.get(f"{API}/tooling/query", "tooling.query")
def query(call: Call) -> Reply:
    """``SELECT Id, DeveloperName, TableEnumOrId FROM CustomField [WHERE ...]`` only."""
    text = call.request.args.get("q", "")
    try:
        parsed = soql.parse(text)
    except soql.SoqlError as exc:
        raise soql_error(text, exc) from None
    if parsed.object_name.lower() != "customfield":
        raise soql_error(
            text,
            soql.SoqlError(
                "INVALID_TYPE",
                f"sObject type '{parsed.object_name}' is not supported.",
                parsed.object_column,
            ),
        )
    rows = []
    for full, field_id in call.data.custom_fields.items():
        table, _, name = full.partition(".")
        rows.append(
            {
                "Id": field_id,
                "DeveloperName": name.removesuffix("__c"),
                "TableEnumOrId": table,
                "FullName": full,
                "Metadata": call.data.field_metadata.get(field_id),
            }
        )
    columns = {
        "id": "Id",
        "developername": "DeveloperName",
        "tableenumorid": "TableEnumOrId",
        "fullname": "FullName",
        "metadata": "Metadata",
    }
    for leaf in soql.conditions(parsed.where):
        if leaf.field.lower() not in columns:
            raise soql_error(
                text,
                soql.SoqlError(
                    "INVALID_FIELD",
                    f"No such column '{leaf.field}' on entity 'CustomField'.",
                    leaf.column,
                ),
            )
    matched = [r for r in rows if matches(parsed.where, row_getter(r, columns))]
    selected = []
    for name, column in parsed.fields:
        if name.lower() not in columns:
            raise soql_error(
                text,
                soql.SoqlError(
                    "INVALID_FIELD", f"No such column '{name}' on entity 'CustomField'.", column
                ),
            )
        selected.append(columns[name.lower()])
    if {"Metadata", "FullName"} & set(selected) and len(matched) > 1:
        raise soql_error(
            text,
            soql.SoqlError(
                "MALFORMED_QUERY",
                "When retrieving results with Metadata or FullName fields, the query "
                "qualifications must specify no more than one row for retrieval. Result "
                f"size: {len(matched)}",
                1,
            ),
        )
    records = [
        {
            "attributes": {
                "type": "CustomField",
                "url": f"/services/data/{call.version}/tooling/sobjects/CustomField/{r['Id']}",
            },
            **{c: r[c] for c in selected},
        }
        for r in matched
    ]
    return Reply(
        200,
        {
            "size": len(records),
            "totalSize": len(records),
            "done": True,
            "queryLocator": None,
            "entityTypeName": "CustomField",
            "records": records,
        },
    )
