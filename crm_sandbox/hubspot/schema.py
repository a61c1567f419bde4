"""HubSpot object types, default properties and value validation (values are strings)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

Property = dict[str, Any]

OBJECT_TYPE_IDS = {
    "contacts": "0-1",
    "companies": "0-2",
    "deals": "0-3",
    "tasks": "0-27",
    "notes": "0-46",
}
ALIASES = {
    **{name: name for name in OBJECT_TYPE_IDS},
    **{type_id: name for name, type_id in OBJECT_TYPE_IDS.items()},
    "contact": "contacts",
    "company": "companies",
    "deal": "deals",
    "task": "tasks",
    "note": "notes",
}
SINGULAR = {
    "contacts": "CONTACT",
    "companies": "COMPANY",
    "deals": "DEAL",
    "tasks": "TASK",
    "notes": "NOTE",
}
# (from, to) -> HUBSPOT_DEFINED default association type id
ASSOCIATION_TYPES: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    ("tasks", "contacts"): 204,
    ("contacts", "tasks"): 203,
    ("tasks", "companies"): 192,
    ("companies", "tasks"): 191,
    ("notes", "contacts"): 202,
    ("contacts", "notes"): 201,
    ("notes", "companies"): 190,
    ("companies", "notes"): 189,
    ("deals", "companies"): 341,
    ("companies", "deals"): 342,
}
PRIMARY_TYPES: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 1,
    ("companies", "contacts"): 2,
    ("deals", "companies"): 5,
    ("companies", "deals"): 6,
}
#: The default sales pipeline's deal stages: internal value -> (label, closed?, won?)
#: (developers.hubspot.com/docs/guides/api/crm/objects/deals and .../crm/pipelines: "default"
#: pipeline; hs_is_closed_won is true for a deal in a Closed Won stage).
DEAL_STAGES: dict[str, tuple[str, bool, bool]] = {
    "appointmentscheduled": ("Appointment Scheduled", False, False),
    "qualifiedtobuy": ("Qualified To Buy", False, False),
    "presentationscheduled": ("Presentation Scheduled", False, False),
    "decisionmakerboughtin": ("Decision Maker Bought-In", False, False),
    "contractsent": ("Contract Sent", False, False),
    "closedwon": ("Closed Won", True, True),
    "closedlost": ("Closed Lost", True, False),
}
#: The portal's currency until an admin adds more (``HubSpotData.enable_currencies``).
DEFAULT_COMPANY_CURRENCY = "EUR"
DEFAULT_PROPERTIES = {
    "contacts": [
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ],
    "companies": ["createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"],
    "deals": [
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ],
    "tasks": ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
    "notes": ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
}
MODIFIED_PROPERTY = {
    "contacts": "lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "deals": "hs_lastmodifieddate",
    "tasks": "hs_lastmodifieddate",
    "notes": "hs_lastmodifieddate",
}
CREATED_PROPERTY = {
    "contacts": "createdate",
    "companies": "createdate",
    "deals": "createdate",
    "tasks": "hs_createdate",
    "notes": "hs_createdate",
}
GROUPS = {
    "contacts": [("contactinformation", "Contact information")],
    "companies": [("companyinformation", "Company information")],
    "deals": [("dealinformation", "Deal information")],
    "tasks": [("taskinformation", "Task information")],
    "notes": [("noteinformation", "Note information")],
}
TYPE_FIELD_TYPES = {
    "string": {"text", "textarea", "html", "phonenumber", "file"},
    "number": {"number", "calculation_equation"},
    "date": {"date"},
    "datetime": {"date"},
    "enumeration": {"select", "radio", "checkbox", "booleancheckbox"},
    "bool": {"booleancheckbox"},
    "phone_number": {"phonenumber"},
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def now_iso() -> str:
    return iso(dt.datetime.now(dt.UTC))


def iso(moment: dt.datetime) -> str:
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def make_property(
    name: str,
    label: str,
    type_: str,
    field_type: str,
    group: str,
    *,
    options: list[tuple[str, str]] | None = None,
    unique: bool = False,
    read_only: bool = False,
    hubspot_defined: bool = True,
    description: str = "",
) -> Property:
    stamp = now_iso()
    return {
        "name": name,
        "label": label,
        "type": type_,
        "fieldType": field_type,
        "description": description,
        "groupName": group,
        "options": [
            {"label": lab, "value": val, "displayOrder": i, "hidden": False}
            for i, (lab, val) in enumerate(options or [])
        ],
        "displayOrder": -1,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": unique,
        "hidden": False,
        "hubspotDefined": hubspot_defined,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": read_only,
        },
        "formField": not read_only,
        "createdAt": stamp,
        "updatedAt": stamp,
        "archived": False,
    }


def standard_properties() -> dict[str, dict[str, Property]]:
    owner_options = [("Sandbox Owner", "1001"), ("Second Owner", "1002")]

    def common(object_type: str, group: str) -> list[Property]:
        created = CREATED_PROPERTY[object_type]
        modified = MODIFIED_PROPERTY[object_type]
        return [
            make_property(
                "hs_object_id", "Record ID", "number", "number", group, read_only=True, unique=True
            ),
            make_property(created, "Create Date", "datetime", "date", group, read_only=True),
            make_property(
                modified, "Last Modified Date", "datetime", "date", group, read_only=True
            ),
            make_property(
                "hubspot_owner_id", "Owner", "enumeration", "select", group, options=owner_options
            ),
        ]

    def merged_ids(group: str) -> Property:
        # The ids merged into a record, ";"-separated; set by a merge only
        return make_property(
            "hs_merged_object_ids", "Merged record IDs", "enumeration", "checkbox", group,
            read_only=True,
        )  # fmt: skip

    contacts = [
        *common("contacts", "contactinformation"),
        merged_ids("contactinformation"),
        make_property("email", "Email", "string", "text", "contactinformation", unique=True),
        make_property("firstname", "First Name", "string", "text", "contactinformation"),
        make_property("lastname", "Last Name", "string", "text", "contactinformation"),
        make_property("phone", "Phone Number", "string", "phonenumber", "contactinformation"),
        make_property("jobtitle", "Job Title", "string", "text", "contactinformation"),
        make_property("company", "Company Name", "string", "text", "contactinformation"),
        make_property(
            "associatedcompanyid",
            "Primary Associated Company ID",
            "number",
            "number",
            "contactinformation",
        ),
        make_property(
            "lifecyclestage",
            "Lifecycle Stage",
            "enumeration",
            "radio",
            "contactinformation",
            options=[
                ("Subscriber", "subscriber"),
                ("Lead", "lead"),
                ("Customer", "customer"),
                ("Other", "other"),
            ],
        ),
    ]
    companies = [
        *common("companies", "companyinformation"),
        merged_ids("companyinformation"),
        make_property("name", "Company name", "string", "text", "companyinformation"),
        make_property("domain", "Company Domain Name", "string", "text", "companyinformation"),
        make_property("country", "Country/Region", "string", "text", "companyinformation"),
        make_property("industry", "Industry", "string", "text", "companyinformation"),
        make_property(
            "numberofemployees", "Number of Employees", "number", "number", "companyinformation"
        ),
    ]
    deals = [
        *common("deals", "dealinformation"),
        make_property("dealname", "Deal Name", "string", "text", "dealinformation"),
        make_property("amount", "Amount", "number", "number", "dealinformation"),
        make_property("closedate", "Close Date", "datetime", "date", "dealinformation"),
        make_property(
            "pipeline", "Pipeline", "enumeration", "select", "dealinformation",
            options=[("Sales Pipeline", "default")],
        ),
        make_property(
            "dealstage", "Deal Stage", "enumeration", "select", "dealinformation",
            options=[(label, value) for value, (label, _, _) in DEAL_STAGES.items()],
        ),
        make_property(
            "hs_is_closed", "Is Deal Closed?", "bool", "booleancheckbox", "dealinformation",
            options=[("Yes", "true"), ("No", "false")], read_only=True,
        ),
        make_property(
            "hs_is_closed_won", "Is Closed Won", "bool", "booleancheckbox", "dealinformation",
            options=[("Yes", "true"), ("No", "false")], read_only=True,
        ),
        make_property(
            "deal_currency_code", "Currency", "enumeration", "select", "dealinformation",
            options=[(DEFAULT_COMPANY_CURRENCY, DEFAULT_COMPANY_CURRENCY)],
        ),
    ]  # fmt: skip
    tasks = [
        *common("tasks", "taskinformation"),
        make_property("hs_timestamp", "Activity date", "datetime", "date", "taskinformation"),
        make_property("hs_task_subject", "Task Title", "string", "text", "taskinformation"),
        make_property("hs_task_body", "Notes", "string", "html", "taskinformation"),
        make_property(
            "hs_task_status",
            "Task Status",
            "enumeration",
            "select",
            "taskinformation",
            options=[
                ("Not started", "NOT_STARTED"),
                ("In progress", "IN_PROGRESS"),
                ("Waiting", "WAITING"),
                ("Completed", "COMPLETED"),
                ("Deferred", "DEFERRED"),
            ],
        ),
        make_property(
            "hs_task_priority",
            "Priority",
            "enumeration",
            "select",
            "taskinformation",
            options=[("None", "NONE"), ("Low", "LOW"), ("Medium", "MEDIUM"), ("High", "HIGH")],
        ),
        make_property(
            "hs_task_type",
            "Task Type",
            "enumeration",
            "select",
            "taskinformation",
            options=[("Call", "CALL"), ("Email", "EMAIL"), ("To-do", "TODO")],
        ),
    ]
    notes = [
        *common("notes", "noteinformation"),
        make_property("hs_timestamp", "Activity date", "datetime", "date", "noteinformation"),
        make_property("hs_note_body", "Note body", "string", "html", "noteinformation"),
    ]
    return {
        "contacts": {p["name"]: p for p in contacts},
        "companies": {p["name"]: p for p in companies},
        "deals": {p["name"]: p for p in deals},
        "tasks": {p["name"]: p for p in tasks},
        "notes": {p["name"]: p for p in notes},
    }


def standard_groups() -> dict[str, dict[str, dict[str, Any]]]:
    return {
        object_type: {
            name: {"name": name, "label": label, "displayOrder": -1, "archived": False}
            for name, label in groups
        }
        for object_type, groups in GROUPS.items()
    }


class PropertyError(Exception):
    """One property value HubSpot would reject; ``code`` is its ``error`` field."""

    def __init__(self, name: str, code: str, message: str) -> None:
        super().__init__(message)
        self.name, self.code, self.message = name, code, message


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _parse_moment(text: str) -> dt.datetime:
    if re.fullmatch(r"-?\d+", text):
        return dt.datetime.fromtimestamp(int(text) / 1000, dt.UTC)
    cleaned = text.replace("Z", "+00:00")
    parsed = dt.datetime.fromisoformat(cleaned)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def validate_value(prop: Property | None, name: str, value: Any) -> str | None:
    """The stored string for ``value``; raises ``PropertyError`` as HubSpot would."""
    if prop is None:
        raise PropertyError(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
    if prop["modificationMetadata"]["readOnlyValue"]:
        raise PropertyError(
            name, "READ_ONLY_VALUE", f"{name} is a read only property; its value cannot be set."
        )
    text = as_text(value)
    if text is None or text == "":
        return None
    type_ = prop["type"]
    if type_ == "number":
        try:
            float(text)
        except ValueError:
            raise PropertyError(
                name, "INVALID_DECIMAL", f"{text} was not a valid number."
            ) from None
        return text
    if type_ == "bool":
        if text.lower() not in ("true", "false"):
            raise PropertyError(name, "INVALID_BOOLEAN", f"{text} was not a valid boolean.")
        return text.lower()
    if type_ == "enumeration":
        allowed = [o["value"] for o in prop["options"]]
        chosen = text.split(";") if prop["fieldType"] == "checkbox" else [text]
        for option in chosen:
            if option not in allowed:
                listing = ", ".join(
                    f'label: "{o["label"]}"\nvalue: "{o["value"]}"\n' for o in prop["options"]
                )
                raise PropertyError(
                    name,
                    "INVALID_OPTION",
                    f"{option} was not one of the allowed options: [{listing}]",
                )
        return text
    if type_ == "date":
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                return dt.date.fromisoformat(text).isoformat()
            moment = _parse_moment(text)
        except ValueError:
            raise PropertyError(name, "INVALID_DATE", f"{text} is not a valid date.") from None
        if (moment.hour, moment.minute, moment.second, moment.microsecond) != (0, 0, 0, 0):
            raise PropertyError(
                name,
                "INVALID_DATE",
                f"{text} is at {moment.hour}:{moment.minute}:{moment.second}."
                f"{moment.microsecond // 1000} UTC, not midnight!",
            )
        return moment.date().isoformat()
    if type_ == "datetime":
        try:
            return iso(_parse_moment(text))
        except ValueError:
            raise PropertyError(
                name, "INVALID_DATETIME", f"{text} is not a valid datetime."
            ) from None
    if name == "email" and not _EMAIL.match(text):
        raise PropertyError(name, "INVALID_EMAIL", f"Email address {text} is invalid")
    if len(text) > 65536:
        raise PropertyError(
            name, "INVALID_STRING", "Property values must be 65536 characters or fewer"
        )
    return text


#: The objects HubSpot documents unique-value properties for: companies, deals, tickets and
#: custom objects, and contacts since the developer changelog "Unique Properties support for
#: newly created Contact properties" (developers.hubspot.com/changelog/unique-properties-for-
#: contacts). Nothing documents them for activities (tasks, notes): refused there (strict).
UNIQUE_VALUE_OBJECTS = frozenset({"contacts", "companies", "deals", "tickets"})


def unique_values_allowed(object_type: str) -> bool:
    """Whether a property of ``object_type`` may have ``hasUniqueValue`` (custom objects'
    type ids start with ``2-``)."""
    return object_type in UNIQUE_VALUE_OBJECTS or object_type.startswith("2-")


def validate_definition(
    body: dict[str, Any], groups: dict[str, Any], object_type: str
) -> list[str]:
    """Problems with a property definition (empty when it can be created)."""
    problems = []
    if body.get("hasUniqueValue") and not unique_values_allowed(object_type):
        singular = SINGULAR.get(object_type, object_type)
        problems.append(f"hasUniqueValue is not supported for objectType {singular}")
    for required in ("name", "label", "type", "fieldType", "groupName"):
        if not body.get(required):
            problems.append(f"{required} is required")
    if problems:
        return problems
    if not _NAME.match(str(body["name"])):
        problems.append(
            f"Property name {body['name']} must start with a letter and contain only "
            "lowercase letters, numbers and underscores"
        )
    type_, field_type = body["type"], body["fieldType"]
    if type_ not in TYPE_FIELD_TYPES:
        problems.append(f"Invalid property type: {type_}")
    elif field_type not in TYPE_FIELD_TYPES[type_]:
        problems.append(f"Field type {field_type} is not compatible with property type {type_}")
    if type_ == "enumeration" and field_type != "booleancheckbox" and not body.get("options"):
        problems.append("Enumeration properties must have at least one option")
    if body["groupName"] not in groups:
        problems.append(f"Property group {body['groupName']} does not exist")
    for option in body.get("options") or []:
        if (
            not isinstance(option, dict)
            or not option.get("label")
            or option.get("value") in (None, "")
        ):
            problems.append("Options must each have a label and a value")
            break
    return problems
