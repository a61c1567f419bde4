"""Which CRM field types hold which metric value types, per CRM.

Two vocabularies per CRM: the type a field is *created* with (Salesforce Metadata API type such
as ``Number``; HubSpot property ``type``) and the type *describe* reports for it (Salesforce
``double``; HubSpot the same ``type``).
"""

from __future__ import annotations

from collections.abc import Mapping

CRMS: tuple[str, ...] = ("salesforce", "hubspot")

# Metadata type -> describe type
_SF_DESCRIBE: dict[str, str] = {
    "Number": "double",
    "Percent": "percent",
    "Picklist": "picklist",
    "Date": "date",
    "DateTime": "datetime",
    "Text": "string",
    "LongTextArea": "textarea",
    "Checkbox": "boolean",
}
_HS_TYPES = ("string", "number", "date", "datetime", "enumeration", "bool")
HUBSPOT_FIELD_TYPES = (
    "text",
    "textarea",
    "number",
    "date",
    "select",
    "radio",
    "checkbox",
    "booleancheckbox",
)

# metric value type -> types a field may be created with
_CREATE: dict[str, dict[str, frozenset[str]]] = {
    "salesforce": {
        "integer": frozenset({"Number", "Percent"}),
        "decimal": frozenset({"Number", "Percent"}),
        "category": frozenset({"Picklist", "Text"}),
        "segment": frozenset({"Picklist", "Text"}),
        "revenue_status": frozenset({"Picklist", "Text"}),
        "date": frozenset({"Date"}),
        "datetime": frozenset({"DateTime"}),
        "text": frozenset({"Text", "LongTextArea"}),
        # Number, not Currency: a Currency field of a multi-currency org holds the record's
        # currency, while cx360 writes the corporate currency and names it in its own field.
        "amount": frozenset({"Number"}),
    },
    "hubspot": {
        "integer": frozenset({"number"}),
        "decimal": frozenset({"number"}),
        "category": frozenset({"enumeration", "string"}),
        "segment": frozenset({"enumeration", "string"}),
        "revenue_status": frozenset({"enumeration", "string"}),
        "date": frozenset({"date"}),
        "datetime": frozenset({"datetime"}),
        "text": frozenset({"string"}),
        "amount": frozenset({"number"}),
    },
}

# metric value type -> describe types of an existing field that can hold it
_DESCRIBED: dict[str, dict[str, frozenset[str]]] = {
    "salesforce": {
        "integer": frozenset({"double", "int", "percent", "currency"}),
        "decimal": frozenset({"double", "percent", "currency"}),
        "category": frozenset({"picklist", "string"}),
        "segment": frozenset({"picklist", "string"}),
        "revenue_status": frozenset({"picklist", "string"}),
        "date": frozenset({"date"}),
        "datetime": frozenset({"datetime"}),
        "text": frozenset({"string", "textarea"}),
        "amount": frozenset({"double", "currency"}),
    },
    # HubSpot describes a property with the very type it was created with.
    "hubspot": _CREATE["hubspot"],
}

PICKLIST_TYPES: Mapping[str, frozenset[str]] = {
    "salesforce": frozenset({"Picklist", "picklist"}),
    "hubspot": frozenset({"enumeration"}),
}


def creatable_types(crm: str) -> frozenset[str]:
    return frozenset(_SF_DESCRIBE) if crm == "salesforce" else frozenset(_HS_TYPES)


def types_for_metric(crm: str, value_type: str) -> frozenset[str]:
    """Types a field created for a metric of ``value_type`` may have."""
    return _CREATE[crm].get(value_type, frozenset())


def described_types_for_metric(crm: str, value_type: str) -> frozenset[str]:
    """Describe types of an existing field that can hold a metric of ``value_type``."""
    return _DESCRIBED[crm].get(value_type, frozenset())


def describe_type(crm: str, create_type: str) -> str:
    """The describe type of a field created as ``create_type``."""
    return _SF_DESCRIBE.get(create_type, create_type) if crm == "salesforce" else create_type


def is_picklist(crm: str, field_type: str) -> bool:
    return field_type in PICKLIST_TYPES[crm]
