"""``cx360 install`` and ``cx360 check``: the mapping's fields compared with the CRM.

``plan_install`` reads (never writes) and lists what install would change; ``apply_install``
makes those changes. A field that exists with a type that cannot hold its metric is a conflict:
install refuses before changing anything and names it. ``check_fields`` reports drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from connector.crm.errors import FieldConflictError
from connector.crm.fieldtypes import describe_type, described_types_for_metric, is_picklist
from connector.crm.mapping import CrmMapping, FieldMapping
from connector.crm.types import (
    SUBJECTS,
    CheckFinding,
    CrmAdapter,
    FieldDescription,
    FieldSpec,
    PicklistOption,
    Subject,
)


@dataclass(frozen=True)
class PlannedChange:
    action: str  # prepare | create_field | add_picklist_values | grant_access | assign_access
    subject: Subject
    target: str
    detail: str = ""
    spec: FieldSpec | None = None
    options: tuple[PicklistOption, ...] = ()

    def describe(self, object_name: str) -> str:
        text = {
            "prepare": f"create {self.target}",
            "create_field": f"create field {object_name}.{self.target}",
            "add_picklist_values": f"add picklist values to {object_name}.{self.target}",
            "grant_access": f"grant read/edit on {self.target}",
            "assign_access": f"assign {self.target}",
        }[self.action]
        return f"{text} ({self.detail})" if self.detail else text


@dataclass
class InstallPlan:
    changes: list[PlannedChange] = field(default_factory=list)
    conflicts: list[FieldConflictError] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.changes and not self.conflicts


def _lookup(described: dict[str, FieldDescription], name: str) -> FieldDescription | None:
    return described.get(name) or {k.lower(): v for k, v in described.items()}.get(name.lower())


def _described_and_hidden(
    adapter: CrmAdapter, subject: Subject, fields: Sequence[FieldMapping]
) -> tuple[dict[str, FieldDescription], dict[str, str]]:
    """The object's described fields, and those mapped fields describe leaves out because
    field-level security hides them (each with the type it was created as)."""
    described = adapter.describe_fields(subject)
    missing = [f.field for f in fields if _lookup(described, f.field) is None]
    return described, adapter.hidden_fields(subject, missing)


def _type_detail(spec: FieldSpec) -> str:
    if spec.precision is not None:
        return f"{spec.type}({spec.precision},{spec.scale})"
    if spec.options:
        return f"{spec.type}: {', '.join(o.value for o in spec.options)}"
    return spec.type


def plan_install(adapter: CrmAdapter, mapping: CrmMapping) -> InstallPlan:
    """What install would change, from describe calls only."""
    plan = InstallPlan()
    for subject in SUBJECTS:
        object_name = adapter.object_name(subject)
        for prepared in adapter.prepare(subject, dry_run=True):
            plan.changes.append(PlannedChange("prepare", subject, prepared))
        fields = mapping.for_subject(subject).fields
        described, hidden = _described_and_hidden(adapter, subject, fields)
        to_grant: list[str] = []
        for field_mapping in fields:
            spec = field_mapping.field_spec()
            if field_mapping.field in hidden:
                # it exists, but field-level security hides it from the integration user:
                # granted and assigned below, never created again (its own or the admin's)
                created_as = hidden[field_mapping.field]
                found = describe_type(adapter.crm, created_as) if created_as else ""
                allowed = described_types_for_metric(adapter.crm, field_mapping.value_type)
                if found and found not in allowed:
                    expected = " or ".join(sorted(allowed))
                    if spec is not None:
                        expected = describe_type(adapter.crm, spec.type)
                    plan.conflicts.append(
                        FieldConflictError(object_name, field_mapping.field, found, expected)
                    )
                    continue
                to_grant.append(field_mapping.field)
                continue
            if spec is None:  # an existing field of the admin's choosing: check, never create
                chosen = _lookup(described, field_mapping.field)
                if chosen and chosen.custom and field_mapping.write and not chosen.updateable:
                    to_grant.append(chosen.name)  # readable only: cx360 needs edit
                continue
            existing = _lookup(described, spec.name)
            if existing is None:
                plan.changes.append(
                    PlannedChange("create_field", subject, spec.name, _type_detail(spec), spec)
                )
                to_grant.append(spec.name)
                continue
            if existing.type not in described_types_for_metric(
                adapter.crm, field_mapping.value_type
            ):
                plan.conflicts.append(
                    FieldConflictError(
                        object_name,
                        existing.name,
                        existing.type,
                        describe_type(adapter.crm, spec.type),
                    )
                )
                continue
            missing = _missing_options(spec, existing)
            if missing:
                plan.changes.append(
                    PlannedChange(
                        "add_picklist_values",
                        subject,
                        spec.name,
                        ", ".join(o.value for o in missing),
                        spec,
                        missing,
                    )
                )
            to_grant.append(spec.name)
        for granted in adapter.grant_field_access(subject, to_grant, dry_run=True):
            plan.changes.append(PlannedChange("grant_access", subject, granted))
    for assigned in adapter.assign_field_access(dry_run=True):
        plan.changes.append(PlannedChange("assign_access", "contact", assigned))
    return plan


def _missing_options(spec: FieldSpec, existing: FieldDescription) -> tuple[PicklistOption, ...]:
    if not spec.options or existing.type in {"string", "textarea"}:
        return ()
    present = set(existing.options)
    return tuple(o for o in spec.options if o.value not in present)


def apply_install(adapter: CrmAdapter, plan: InstallPlan) -> list[PlannedChange]:
    """Make the planned changes (none when the plan has conflicts); returns those made."""
    if plan.conflicts:
        raise plan.conflicts[0]
    done: list[PlannedChange] = []
    subjects_prepared: set[Subject] = set()
    for change in plan.changes:
        if change.action == "prepare" and change.subject not in subjects_prepared:
            adapter.prepare(change.subject)
            subjects_prepared.add(change.subject)
        elif change.action == "create_field" and change.spec is not None:
            adapter.create_field(change.subject, change.spec)
        elif change.action == "add_picklist_values" and change.spec is not None:
            adapter.add_picklist_values(change.subject, change.spec, change.options)
        elif change.action in ("grant_access", "assign_access"):
            continue  # granted per subject below, after the fields exist; then assigned
        done.append(change)
    for subject in SUBJECTS:
        grants = [c for c in plan.changes if c.action == "grant_access" and c.subject == subject]
        if grants:
            names = [c.target.split(".", 1)[1] for c in grants]
            adapter.grant_field_access(subject, names)
            done.extend(grants)
    assigned = [c for c in plan.changes if c.action == "assign_access"]
    if assigned:
        adapter.assign_field_access()
        done.extend(assigned)
    return done


def check_fields(adapter: CrmAdapter, mapping: CrmMapping) -> list[CheckFinding]:
    """Drift between the mapping and the CRM: missing fields, wrong types, missing values."""
    findings: list[CheckFinding] = []
    for subject in SUBJECTS:
        object_name = adapter.object_name(subject)
        fields = mapping.for_subject(subject).fields
        described, hidden = _described_and_hidden(adapter, subject, fields)
        problems_before = len(findings)
        for field_mapping in fields:
            if field_mapping.field in hidden:
                findings.append(_hidden_finding(object_name, field_mapping))
                continue
            findings.extend(_field_findings(adapter.crm, object_name, described, field_mapping))
        if len(findings) == problems_before:
            count = len(mapping.for_subject(subject).fields)
            findings.append(
                CheckFinding("fields", "ok", f"{object_name}: all {count} mapped fields match")
            )
    # the follow-up tasks' key, in the state install acts on (HubSpot: missing or archived)
    follow_up_key = getattr(adapter, "follow_up_key_finding", None)
    if follow_up_key is not None:
        findings.append(follow_up_key())
    return findings


def _hidden_finding(object_name: str, field_mapping: FieldMapping) -> CheckFinding:
    name = field_mapping.field
    return CheckFinding(
        "fields",
        "error",
        f"{object_name}.{name} ({field_mapping.metric}): exists, but field-level security "
        "hides it from the integration user; run cx360 install (it grants read/edit in its "
        "permission set and assigns the set to that user), or grant and assign it in Setup",
        object_name,
        name,
    )


def _field_findings(
    crm: str,
    object_name: str,
    described: dict[str, FieldDescription],
    field_mapping: FieldMapping,
) -> Sequence[CheckFinding]:
    name = field_mapping.field
    where = f"{object_name}.{name} ({field_mapping.metric})"
    existing = _lookup(described, name)
    if existing is None:
        hint = "; run cx360 install" if field_mapping.spec else ""
        return [CheckFinding("fields", "error", f"{where}: missing field{hint}", object_name, name)]
    allowed = described_types_for_metric(crm, field_mapping.value_type)
    if existing.type not in allowed:
        expected = " or ".join(sorted(allowed))
        return [
            CheckFinding(
                "fields",
                "error",
                f"{where}: wrong type {existing.type!r}, expected {expected}",
                object_name,
                name,
            )
        ]
    findings: list[CheckFinding] = []
    if is_picklist(crm, existing.type) and field_mapping.values:
        missing = sorted(set(field_mapping.values.values()) - set(existing.options))
        if missing:
            findings.append(
                CheckFinding(
                    "fields",
                    "error",
                    f"{where}: missing picklist value(s) {', '.join(missing)}",
                    object_name,
                    name,
                )
            )
    if field_mapping.write and not existing.updateable:
        fls = crm == "salesforce" and existing.custom
        why = (" (field-level security lets the integration user read it, not edit it: run "
               "cx360 install, or grant Edit in Setup)") if fls else ""  # fmt: skip
        findings.append(
            CheckFinding("fields", "error", f"{where}: not writable{why}", object_name, name)
        )
    return findings
