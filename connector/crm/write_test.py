"""``cx360 check --write-test RECORD``: one real write, read back and undone.

The step before going live against a Salesforce sandbox org or a HubSpot test portal: cx360
writes one mapped field on one contact the admin names (a CRM id or an email), reads it back
through the same client the push uses, and puts the old value back (or clears the field again).
A record the admin chooses, not one cx360 creates: creating contacts in a real CRM can start
workflows, assignment rules and emails, which a check must not do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connector.crm.errors import CrmError
from connector.crm.mapping import CrmMapping, FieldMapping
from connector.crm.types import CheckFinding, CrmAdapter, RecordKey, RecordUpdate

#: Value types tried in this order: a text field takes a readable marker, a number a 0 or 1.
_TEXT, _NUMBERS = ("text",), ("integer", "decimal")


def _field(mapping: CrmMapping) -> FieldMapping | None:
    written = mapping.contact.written()
    for types in (_TEXT, _NUMBERS):
        for field in written:
            if field.value_type in types:
                return field
    return None


def _test_value(field: FieldMapping, before: Any) -> Any:
    if field.value_type in _TEXT:
        return f"cx360 write test {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC"
    return 1 if _same(field, before, 0) else 0


def _same(field: FieldMapping, read: Any, wanted: Any) -> bool:
    """The value read back is the one written (HubSpot reads every value as a string)."""
    if read is None or wanted is None:
        return read is None and wanted is None
    if field.value_type in _NUMBERS:
        try:
            return float(read) == float(wanted)
        except (TypeError, ValueError):
            return False
    return str(read) == str(wanted)


def _record_id(adapter: CrmAdapter, record: str) -> str | None:
    if "@" not in record:
        return record
    found = adapter.resolve_contacts([RecordKey(email=record)])
    ref = found.get(RecordKey(email=record))
    return ref.crm_id if ref else None


def write_test(adapter: CrmAdapter, mapping: CrmMapping, record: str) -> CheckFinding:
    """Write, read back and restore one mapped field on the contact ``record`` (id or email)."""

    field = _field(mapping)

    def failed(message: str) -> CheckFinding:
        return CheckFinding(
            "write-test", "error", message, "contact", field.field if field else None
        )

    if field is None:
        return failed("the contact mapping writes no text or number field to test with")
    name = field.field
    try:
        crm_id = _record_id(adapter, record)
        if crm_id is None:
            return failed(f"no contact with the email {record} in {adapter.crm}")
        current = adapter.read("contact", [crm_id], [name])
        if crm_id not in current:
            return failed(f"no contact {crm_id} in {adapter.crm}")
        before = current[crm_id].get(name)
        value = _test_value(field, before)
        steps = [("write", value), ("restore", before)]
        for step, wanted in steps:
            (outcome,) = adapter.write("contact", [RecordUpdate(crm_id, {name: wanted})])
            if outcome.status != "written":
                return failed(f"{step} of {name} on contact {crm_id} refused: "
                              f"{outcome.code or outcome.status}: {outcome.reason}")  # fmt: skip
            read = adapter.read("contact", [crm_id], [name]).get(crm_id, {}).get(name)
            if not _same(field, read, wanted):
                return failed(f"{name} on contact {crm_id} reads {read!r} after the {step} of "
                              f"{wanted!r}")  # fmt: skip
    except CrmError as exc:
        return failed(f"{name} on contact {record}: {exc}")
    return CheckFinding(
        "write-test", "ok",
        f"wrote {name} on contact {crm_id}, read it back and restored {before!r}",
        "contact", name,
    )  # fmt: skip
