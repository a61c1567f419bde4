"""Salesforce object descriptions and value typing, as the REST API reports and enforces them.

Fields are kept in the exact shape ``sobjects/{Object}/describe`` returns, so describe is a
copy and a field created through the Tooling API is just one more such dictionary.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from crm_sandbox import ids

Field = dict[str, Any]

READ_ONLY_SYSTEM = ("CreatedDate", "LastModifiedDate", "SystemModstamp")
STRING_TYPES = frozenset(
    {"string", "textarea", "email", "picklist", "phone", "url", "combobox", "multipicklist"}
)
NUMBER_TYPES = frozenset({"double", "currency", "percent"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}


class JsonTypeError(Exception):
    """A value the JSON deserializer cannot read into the field's type (fails the request)."""


class FieldError(Exception):
    """A value that is the right shape but not allowed (fails only its record)."""

    def __init__(self, code: str, message: str, fields: list[str]) -> None:
        super().__init__(message)
        self.code, self.message, self.fields = code, message, fields


def make_field(
    name: str,
    type_: str,
    label: str | None = None,
    *,
    length: int = 0,
    precision: int = 0,
    scale: int = 0,
    nillable: bool = True,
    createable: bool = True,
    updateable: bool = True,
    custom: bool = False,
    external_id: bool = False,
    unique: bool = False,
    id_lookup: bool = False,
    picklist: list[str] | None = None,
    picklist_labels: dict[str, str] | None = None,
    restricted: bool = False,
    reference_to: list[str] | None = None,
    relationship_name: str | None = None,
    default_on_create: bool = False,
    default_value: Any = None,
) -> Field:
    if type_ in STRING_TYPES and not length:
        length = 255
    return {
        "name": name,
        "label": label or name.removesuffix("__c").replace("_", " "),
        "type": type_,
        "soapType": SOAP_TYPES.get(type_, "xsd:string"),
        "length": length,
        "byteLength": length * 3,
        "digits": 9 if type_ == "int" else 0,
        "precision": precision,
        "scale": scale,
        "nillable": nillable,
        "createable": createable,
        "updateable": updateable,
        "defaultedOnCreate": default_on_create,
        "defaultValue": default_value,
        "calculated": False,
        "custom": custom,
        "externalId": external_id,
        "unique": unique,
        "idLookup": id_lookup or type_ == "id",
        "filterable": True,
        "sortable": type_ != "textarea",
        "picklistValues": [
            {
                "active": True,
                "defaultValue": v == default_value,
                "label": (picklist_labels or {}).get(v, v),
                "value": v,
            }
            for v in picklist or []
        ],
        "restrictedPicklist": restricted,
        "referenceTo": reference_to or [],
        "relationshipName": relationship_name,
    }


def _system_fields() -> list[Field]:
    return [
        make_field(
            "Id", "id", "Record ID", length=18, nillable=False, createable=False, updateable=False
        ),
        make_field(
            "IsDeleted",
            "boolean",
            "Deleted",
            nillable=False,
            createable=False,
            updateable=False,
            default_on_create=True,
            default_value=False,
        ),
        make_field(
            "CreatedDate",
            "datetime",
            "Created Date",
            nillable=False,
            createable=False,
            updateable=False,
            default_on_create=True,
        ),
        make_field(
            "LastModifiedDate",
            "datetime",
            "Last Modified Date",
            nillable=False,
            createable=False,
            updateable=False,
            default_on_create=True,
        ),
        make_field(
            "SystemModstamp",
            "datetime",
            "System Modstamp",
            nillable=False,
            createable=False,
            updateable=False,
            default_on_create=True,
        ),
    ]


def _owner() -> Field:
    return make_field(
        "OwnerId",
        "reference",
        "Owner ID",
        length=18,
        nillable=False,
        reference_to=["User"],
        relationship_name="Owner",
        default_on_create=True,
    )


def _master_record_field(object_name: str) -> Field:
    """Set on a record deleted by a merge: the id of the record that remains (Object
    Reference, Contact / Account "MasterRecordId"); read through ``queryAll``."""
    return make_field(
        "MasterRecordId",
        "reference",
        "Master Record ID",
        length=18,
        reference_to=[object_name],
        relationship_name="MasterRecord",
        createable=False,
        updateable=False,
    )


#: The default opportunity stages (OpportunityStage): stage -> (IsClosed, IsWon). IsClosed and
#: IsWon are read-only on Opportunity and follow the stage (Object Reference, "Opportunity":
#: https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_opportunity.htm).
STAGES: dict[str, tuple[bool, bool]] = {
    "Prospecting": (False, False),
    "Qualification": (False, False),
    "Needs Analysis": (False, False),
    "Value Proposition": (False, False),
    "Id. Decision Makers": (False, False),
    "Perception Analysis": (False, False),
    "Proposal/Price Quote": (False, False),
    "Negotiation/Review": (False, False),
    "Closed Won": (True, True),
    "Closed Lost": (True, False),
}


def _account_reference() -> Field:
    return make_field(
        "AccountId",
        "reference",
        "Account ID",
        length=18,
        reference_to=["Account"],
        relationship_name="Account",
    )


def _read_only_flag(name: str, label: str) -> Field:
    return make_field(
        name,
        "boolean",
        label,
        nillable=False,
        createable=False,
        updateable=False,
        default_on_create=True,
        default_value=False,
    )


def currency_iso_code_field() -> Field:
    """``CurrencyIsoCode``: on every record of a multi-currency org, a picklist of the org's
    active currencies (Object Reference, "Opportunity" / multi-currency fields)."""
    return make_field(
        "CurrencyIsoCode", "picklist", "Currency ISO Code", length=255, restricted=True
    )


def currency_type_fields() -> list[Field]:
    """``CurrencyType``: the currencies of a multi-currency org, one marked ``IsCorporate``."""
    return [
        *_system_fields(),
        make_field("IsoCode", "picklist", "Currency ISO Code", length=3, nillable=False),
        make_field("ConversionRate", "double", "Conversion Rate", precision=18, scale=6),
        make_field("DecimalPlaces", "int", "Decimal Places", precision=2),
        make_field("IsActive", "boolean", "Active", nillable=False, default_value=True),
        make_field("IsCorporate", "boolean", "Corporate Currency", nillable=False,
                   default_value=False),
    ]  # fmt: skip


def standard_objects() -> dict[str, dict[str, Any]]:
    """The standard objects cx360 touches, with the fields the sandbox knows."""
    contact = [
        *_system_fields(),
        _master_record_field("Contact"),
        _account_reference(),
        make_field("LastName", "string", "Last Name", length=80, nillable=False),
        make_field("FirstName", "string", "First Name", length=40),
        make_field(
            "Salutation",
            "picklist",
            "Salutation",
            length=40,
            picklist=["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."],
        ),
        make_field(
            "Name",
            "string",
            "Full Name",
            length=121,
            nillable=False,
            createable=False,
            updateable=False,
        ),
        make_field("Email", "email", "Email", length=80, id_lookup=True),
        make_field("Phone", "phone", "Business Phone", length=40),
        make_field("Title", "string", "Title", length=128),
        make_field("Department", "string", "Department", length=80),
        make_field("Description", "textarea", "Contact Description", length=32000),
        make_field(
            "HasOptedOutOfEmail",
            "boolean",
            "Email Opt Out",
            nillable=False,
            default_on_create=True,
            default_value=False,
        ),
        _owner(),
    ]
    account = [
        *_system_fields(),
        _master_record_field("Account"),
        make_field("Name", "string", "Account Name", length=255, nillable=False),
        make_field("Website", "url", "Website", length=255),
        make_field(
            "Industry",
            "picklist",
            "Industry",
            length=255,
            picklist=[
                "Manufacturing",
                "Transportation",
                "Technology",
                "Healthcare",
                "Construction",
                "Other",
            ],
        ),
        make_field("Phone", "phone", "Account Phone", length=40),
        make_field("BillingCountry", "string", "Billing Country", length=80),
        make_field("NumberOfEmployees", "int", "Employees", precision=8),
        make_field("AnnualRevenue", "currency", "Annual Revenue", precision=18, scale=0),
        make_field("Description", "textarea", "Account Description", length=32000),
        _owner(),
    ]
    task = [
        *_system_fields(),
        make_field(
            "Subject",
            "combobox",
            "Subject",
            length=255,
            picklist=["Call", "Send Letter", "Send Quote", "Other"],
        ),
        make_field("ActivityDate", "date", "Due Date Only"),
        make_field(
            "WhoId",
            "reference",
            "Name ID",
            length=18,
            reference_to=["Contact", "Lead"],
            relationship_name="Who",
        ),
        make_field(
            "WhatId",
            "reference",
            "Related To ID",
            length=18,
            reference_to=["Account"],
            relationship_name="What",
        ),
        make_field(
            "Status",
            "picklist",
            "Status",
            length=40,
            nillable=False,
            picklist=[
                "Not Started",
                "In Progress",
                "Completed",
                "Waiting on someone else",
                "Deferred",
            ],
            default_on_create=True,
            default_value="Not Started",
        ),
        make_field(
            "Priority",
            "picklist",
            "Priority",
            length=40,
            nillable=False,
            picklist=["High", "Normal", "Low"],
            default_on_create=True,
            default_value="Normal",
        ),
        make_field("Description", "textarea", "Description", length=32000),
        make_field(
            "IsClosed",
            "boolean",
            "Closed",
            nillable=False,
            createable=False,
            updateable=False,
            default_on_create=True,
            default_value=False,
        ),
        _owner(),
    ]
    user = [
        *_system_fields(),
        make_field(
            "Username", "string", "Username", length=80, nillable=False, unique=True, id_lookup=True
        ),
        make_field("FirstName", "string", "First Name", length=40),
        make_field("LastName", "string", "Last Name", length=80, nillable=False),
        make_field(
            "Name",
            "string",
            "Full Name",
            length=121,
            nillable=False,
            createable=False,
            updateable=False,
        ),
        make_field("Email", "email", "Email", length=128, nillable=False),
        make_field(
            "IsActive",
            "boolean",
            "Active",
            nillable=False,
            default_on_create=True,
            default_value=True,
        ),
    ]
    permission_set = [
        *_system_fields(),
        make_field("Name", "string", "Name", length=80, nillable=False),
        make_field("Label", "string", "Label", length=80, nillable=False),
    ]
    field_permissions = [
        *_system_fields(),
        _create_only_reference("ParentId", "Parent ID", "PermissionSet", "Parent"),
        make_field(
            "SobjectType",
            "string",
            "Sobject Type Name",
            length=40,
            nillable=False,
            updateable=False,
        ),
        make_field("Field", "string", "Field Name", length=255, nillable=False, updateable=False),
        make_field(
            "PermissionsRead",
            "boolean",
            "Read Access",
            nillable=False,
            default_on_create=True,
            default_value=False,
        ),
        make_field(
            "PermissionsEdit",
            "boolean",
            "Edit Access",
            nillable=False,
            default_on_create=True,
            default_value=False,
        ),
    ]
    # Object Reference, "PermissionSetAssignment": AssigneeId and PermissionSetId, both
    # create-only (developer.salesforce.com/docs/atlas.en-us.object_reference.meta/
    # object_reference/sforce_api_objects_permissionsetassignment.htm)
    permission_set_assignment = [
        *_system_fields(),
        _create_only_reference("AssigneeId", "Assignee ID", "User", "Assignee"),
        _create_only_reference(
            "PermissionSetId", "Permission Set ID", "PermissionSet", "PermissionSet"
        ),
    ]
    opportunity = [
        *_system_fields(),
        _account_reference(),
        make_field("Name", "string", "Name", length=120, nillable=False),
        make_field("Amount", "currency", "Amount", precision=18, scale=2),
        make_field("CloseDate", "date", "Close Date", nillable=False),
        make_field(
            "StageName", "picklist", "Stage", length=255, nillable=False, picklist=list(STAGES)
        ),
        _read_only_flag("IsClosed", "Closed"),
        _read_only_flag("IsWon", "Won"),
        _owner(),
    ]
    organization = [
        *_system_fields(),
        make_field("Name", "string", "Name", length=80, nillable=False),
        make_field(
            "DefaultCurrencyIsoCode",
            "picklist",
            "Default Currency ISO Code",
            length=255,
            createable=False,
            updateable=False,
        ),
    ]
    labels = {
        "Account": ("Account", "Accounts", account),
        "Opportunity": ("Opportunity", "Opportunities", opportunity),
        "Organization": ("Organization", "Organizations", organization),
        "Contact": ("Contact", "Contacts", contact),
        "Task": ("Task", "Tasks", task),
        "User": ("User", "Users", user),
        "PermissionSet": ("Permission Set", "Permission Sets", permission_set),
        "FieldPermissions": ("Field Permissions", "Field Permissions", field_permissions),
        "PermissionSetAssignment": (
            "Permission Set Assignment",
            "Permission Set Assignments",
            permission_set_assignment,
        ),
    }
    objects: dict[str, dict[str, Any]] = {}
    for name, (label, plural, field_list) in labels.items():
        objects.update(standard_objects_of(name, label, plural, field_list))
    # Organization supports describe, query and retrieve: no record is ever created
    # (Object Reference, "Organization", Supported Calls).
    objects["Organization"]["createable"] = False
    return objects


def _create_only_reference(name: str, label: str, target: str, relationship: str) -> Field:
    """A required lookup set when the record is created and never changed after."""
    return make_field(
        name,
        "reference",
        label,
        length=18,
        nillable=False,
        reference_to=[target],
        relationship_name=relationship,
        updateable=False,
    )


def standard_objects_of(
    name: str, label: str, plural: str, field_list: list[Field]
) -> dict[str, dict[str, Any]]:
    """One standard object's describe, by name."""
    return {
        name: {
            "name": name,
            "label": label,
            "labelPlural": plural,
            "keyPrefix": ids.KEY_PREFIXES.get(name, "0PS"),
            "custom": False,
            "fields": {f["name"].lower(): f for f in field_list},
        }
    }


# --------------------------------------------------------------------------- typing
def format_datetime(value: dt.datetime) -> str:
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def now_datetime() -> str:
    return format_datetime(dt.datetime.now(dt.UTC))


def _parse_datetime(text: str) -> dt.datetime:
    cleaned = text.strip().replace("Z", "+00:00")
    # Salesforce writes +0000; Python wants +00:00
    if re.search(r"[+-]\d{4}$", cleaned):
        cleaned = cleaned[:-2] + ":" + cleaned[-2:]
    parsed = dt.datetime.fromisoformat(cleaned)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _json_type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, str):
        return "VALUE_STRING"
    if isinstance(value, int):
        return "VALUE_NUMBER_INT"
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT"
    if isinstance(value, list):
        return "START_ARRAY"
    return "START_OBJECT"


def _deserialize_error(kind: str, value: Any) -> JsonTypeError:
    # The REST API's Jackson message, e.g. "Cannot deserialize instance of double from
    # VALUE_STRING value abc or request may be missing a required field"
    return JsonTypeError(
        f"Cannot deserialize instance of {kind} from {_json_type_name(value)} value "
        f"{value} or request may be missing a required field"
    )


def coerce(field: Field, value: Any, *, from_csv: bool = False) -> Any:
    """The stored value for ``value`` written to ``field``.

    JSON bodies: a value of the wrong JSON type raises ``JsonTypeError``. CSV (Bulk API):
    every value is text, and an unreadable one is a per-record ``FieldError``
    (INVALID_TYPE_ON_FIELD_IN_RECORD). Rule violations raise ``FieldError`` either way.
    """
    name, type_ = field["name"], field["type"]
    if value is None:
        if not field["nillable"] and not field["defaultedOnCreate"]:
            raise FieldError(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]", [name]
            )
        return None

    def bad(kind: str) -> Exception:
        if from_csv:
            return FieldError(
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
                f"{field['label']}: value not of required type: {value}",
                [name],
            )
        return _deserialize_error(kind, value)

    if type_ in STRING_TYPES or type_ in ("id", "reference"):
        if isinstance(value, bool | list | dict):
            raise bad("String")
        text = value if isinstance(value, str) else str(value)
        if type_ in ("id", "reference"):
            return _reference(field, text)
        if type_ == "email" and text and not _EMAIL.match(text):
            raise FieldError(
                "INVALID_EMAIL_ADDRESS", f"{field['label']}: invalid email address: {text}", [name]
            )
        if len(text) > field["length"]:
            raise FieldError(
                "STRING_TOO_LONG",
                f"{field['label']}: data value too large: {text[:40]} (max length="
                f"{field['length']})",
                [name],
            )
        if type_ == "picklist" and field["restrictedPicklist"] and text:
            allowed = {p["value"] for p in field["picklistValues"] if p["active"]}
            if text not in allowed:
                raise FieldError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{field['label']}: bad value for restricted picklist field: {text}",
                    [name],
                )
        return text or None
    if type_ in NUMBER_TYPES or type_ == "int":
        number: float
        if isinstance(value, bool | list | dict):
            raise bad("double" if type_ != "int" else "int")
        if isinstance(value, int | float):
            number = float(value)
        else:
            try:
                number = float(str(value).strip())
            except ValueError:
                raise bad("double" if type_ != "int" else "int") from None
        if math.isnan(number) or math.isinf(number):
            raise bad("double")
        if type_ == "int":
            if number != int(number):
                raise bad("int")
            return int(number)
        scale = field["scale"]
        rounded = round(number, scale)
        integer_digits = len(str(int(abs(rounded)))) if abs(rounded) >= 1 else 0
        if field["precision"] and integer_digits > field["precision"] - scale:
            raise FieldError(
                "NUMBER_OUTSIDE_VALID_RANGE",
                f"{field['label']}: value outside of valid range on numeric field: {value}",
                [name],
            )
        return float(rounded)
    if type_ == "boolean":
        if isinstance(value, bool):
            return value
        if from_csv and str(value).strip().lower() in ("true", "false", "1", "0"):
            return str(value).strip().lower() in ("true", "1")
        raise bad("boolean")
    if type_ == "date":
        if not isinstance(value, str):
            raise bad("date")
        try:
            if not _DATE.match(value.strip()):
                raise ValueError(value)
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise bad("date") from None
    if type_ == "datetime":
        if not isinstance(value, str):
            raise bad("datetime")
        try:
            return format_datetime(_parse_datetime(value))
        except ValueError:
            raise bad("datetime") from None
    raise bad(type_)


def _reference(field: Field, text: str) -> str | None:
    if not text:
        return None
    if not ids.is_well_formed(text):
        raise FieldError(
            "MALFORMED_ID", f"{field['label']}: id value of incorrect type: {text}", [field["name"]]
        )
    normalized = ids.normalize(text)
    targets = [ids.KEY_PREFIXES[t] for t in field["referenceTo"] if t in ids.KEY_PREFIXES]
    if field["type"] == "reference" and targets and normalized[:3] not in targets:
        raise FieldError(
            "FIELD_INTEGRITY_EXCEPTION",
            f"{field['label']}: id value of incorrect type: {text}",
            [field["name"]],
        )
    return normalized


# ------------------------------------------------------------- Tooling API CustomField
METADATA_TYPES = {
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Number": "double",
    "Percent": "percent",
    "Currency": "currency",
    "Date": "date",
    "DateTime": "datetime",
    "Checkbox": "boolean",
    "Picklist": "picklist",
    "Email": "email",
    "Url": "url",
    "Phone": "phone",
}


def field_from_metadata(field_name: str, metadata: dict[str, Any]) -> Field:
    """A describe field for a Tooling API ``CustomField`` body's ``Metadata``.

    Raises ``ValueError`` with the Salesforce message for an unusable definition.
    """
    meta_type = metadata.get("type")
    if meta_type not in METADATA_TYPES:
        raise ValueError(f"Invalid field type: {meta_type}")
    type_ = METADATA_TYPES[meta_type]
    label = metadata.get("label")
    if not label:
        raise ValueError("Field label: You must enter a value")
    picklist: list[str] = []
    picklist_labels: dict[str, str] = {}
    restricted = False
    default: Any = None
    if type_ == "picklist":
        value_set = metadata.get("valueSet") or {}
        restricted = bool(value_set.get("restricted", False))
        definition = value_set.get("valueSetDefinition") or {}
        for entry in definition.get("value") or []:
            picklist.append(str(entry.get("fullName") or entry.get("label")))
            picklist_labels[picklist[-1]] = str(entry.get("label") or picklist[-1])
            if entry.get("default"):
                default = picklist[-1]
        if not picklist:
            raise ValueError("Picklist values: You must enter at least one value")
    if type_ == "boolean":
        default = str(metadata.get("defaultValue", "false")).lower() == "true"
    precision = int(metadata.get("precision") or (18 if type_ in NUMBER_TYPES else 0))
    scale = int(metadata.get("scale") or 0)
    if type_ in NUMBER_TYPES and not 0 <= scale <= precision <= 18:
        raise ValueError("Decimal Places: the sum of length and decimal places must be <= 18")
    length = int(metadata.get("length") or 0)
    if type_ == "textarea" and not length:
        length = 255 if meta_type == "TextArea" else 32768
    field = make_field(
        field_name,
        type_,
        label,
        length=length,
        precision=precision,
        scale=scale,
        nillable=type_ != "boolean" and not metadata.get("required", False),
        custom=True,
        external_id=bool(metadata.get("externalId", False)),
        unique=bool(metadata.get("unique", False)),
        id_lookup=bool(metadata.get("externalId", False)),
        picklist=picklist,
        picklist_labels=picklist_labels,
        restricted=restricted,
        default_on_create=type_ == "boolean",
        default_value=default,
    )
    if metadata.get("description"):
        field["inlineHelpText"] = metadata.get("inlineHelpText")
    return field
