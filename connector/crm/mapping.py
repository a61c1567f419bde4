"""Mappings (mappings/salesforce.yaml, mappings/hubspot.yaml): metric key -> CRM field.

Per subject (contact, account) each metric key maps to a field, written either as
``metric: Field__c`` or as ``metric: {field, values, write}`` where ``values`` translates the
category/segment values to the CRM's picklist API values (so an existing field or German
labels work) and ``write: false`` maps a field without writing it. ``follow_up_task`` is the
rule for tasks on a change to detractor. Validated with marshmallow against the metric
vocabulary and manifest.yaml; an error names the file and the key.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from connector.crm.datafiles import DataFileError, flatten_messages, mappings_dir, read_yaml
from connector.crm.fieldtypes import CRMS, is_picklist, types_for_metric
from connector.crm.manifest import CrmManifest, Manifest, load_manifest
from connector.crm.types import SUBJECTS, FieldSpec, PicklistOption, Subject
from connector.crm.vocabulary import enum_values, metric_types

TASK_PLACEHOLDERS = frozenset({"score", "comment", "category", "previous_category", "email"})


# Task priorities a CRM fixes (HubSpot's hs_task_priority options cannot be edited; a
# Salesforce org may edit its Task Priority picklist, so there the CRM itself is the check).
TASK_PRIORITIES = {"hubspot": ("HIGH", "MEDIUM", "LOW", "NONE")}


class FollowUpSchema(Schema):
    class Meta:
        unknown = RAISE

    enabled = fields.Boolean(load_default=True)
    trigger = fields.String(
        load_default="became_detractor", validate=validate.OneOf(["became_detractor"])
    )
    subject = fields.String(required=True, validate=validate.Length(min=1, max=255))
    body = fields.String(load_default="")
    due_in_days = fields.Integer(load_default=3, validate=validate.Range(min=0, max=365))
    assign_to = fields.String(
        load_default="record_owner", validate=validate.OneOf(["record_owner", "integration_user"])
    )
    priority = fields.String(load_default="High")


class FieldEntrySchema(Schema):
    class Meta:
        unknown = RAISE

    field = fields.String(required=True, validate=validate.Length(min=1))
    values = fields.Dict(
        keys=fields.String(), values=fields.String(validate=validate.Length(min=1))
    )
    write = fields.Boolean(load_default=True)


class MappingFileSchema(Schema):
    class Meta:
        unknown = RAISE

    crm = fields.String(required=True, validate=validate.OneOf(CRMS))
    contact = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True), required=True)
    account = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True), required=True)
    follow_up_task = fields.Nested(FollowUpSchema)


@dataclass(frozen=True)
class FieldMapping:
    """One metric written to (or read from) one CRM field."""

    metric: str
    field: str
    value_type: str
    #: cx360 value (``detractor``) -> CRM picklist API value (``Detractor``, ``Kritiker``)
    values: Mapping[str, str]
    write: bool = True
    #: The manifest's field when the mapping uses one (``cx360 install`` creates it).
    spec: FieldSpec | None = None

    def field_spec(self) -> FieldSpec | None:
        """The manifest field with the mapping's picklist values (what install creates)."""
        if self.spec is None or not self.spec.options or not self.values:
            return self.spec
        labels = {option.value: option.label for option in self.spec.options}
        options = tuple(
            PicklistOption(value, labels.get(value, value))
            for value in dict.fromkeys(
                self.values[v] for v in enum_values(self.value_type) if v in self.values
            )
        )
        return replace(self.spec, options=options)

    def crm_value(self, value: Any) -> Any:
        """A scorecard value as the CRM takes it (picklist API value for categories)."""
        if self.values and isinstance(value, str):
            return self.values[value]
        return value


@dataclass(frozen=True)
class SubjectMapping:
    subject: Subject
    object_name: str
    fields: tuple[FieldMapping, ...]

    # Asked for once per record a push plans: built once per mapping (it never changes).
    def written(self) -> tuple[FieldMapping, ...]:
        return self._written

    def by_metric(self) -> Mapping[str, FieldMapping]:
        return self._by_metric

    def family_of(self) -> Mapping[str, str]:
        """CRM field -> metric family (``nps``, ``csat``, ``rnps``, ``cx360``)."""
        return self._family_of

    @cached_property
    def _written(self) -> tuple[FieldMapping, ...]:
        return tuple(f for f in self.fields if f.write)

    @cached_property
    def _by_metric(self) -> Mapping[str, FieldMapping]:
        return MappingProxyType({f.metric: f for f in self.fields})

    @cached_property
    def _family_of(self) -> Mapping[str, str]:
        return MappingProxyType({f.field: f.metric.split(".", 1)[0] for f in self.fields})


@dataclass(frozen=True)
class FollowUpRule:
    enabled: bool
    subject: str
    body: str
    due_in_days: int
    assign_to_owner: bool
    priority: str


@dataclass(frozen=True)
class CrmMapping:
    crm: str
    contact: SubjectMapping
    account: SubjectMapping
    follow_up: FollowUpRule
    path: str

    def for_subject(self, subject: Subject) -> SubjectMapping:
        return self.contact if subject == "contact" else self.account


DISABLED_FOLLOW_UP = FollowUpRule(False, "", "", 0, True, "High")


def _placeholder_problems(template: str) -> list[str]:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        return [f"not a valid template: {exc}"]
    unknown = sorted(names - TASK_PLACEHOLDERS)
    if unknown:
        allowed = ", ".join("{" + n + "}" for n in sorted(TASK_PLACEHOLDERS))
        return [f"unknown placeholder(s) {', '.join(unknown)}; allowed: {allowed}"]
    return []


def _subject_mapping(
    subject: Subject, raw: Mapping[str, Any], crm_manifest: CrmManifest, errors: dict[str, Any]
) -> SubjectMapping:
    obj = crm_manifest.objects[subject]
    manifest_fields = obj.by_name()
    vocabulary = metric_types(subject)
    mapped: list[FieldMapping] = []
    used_fields: dict[str, str] = {}
    for metric, entry in raw.items():
        where = f"{subject}.{metric}"
        problems: list[str] = []
        if entry is None:
            continue  # explicitly unmapped
        if isinstance(entry, str):
            entry = {"field": entry}
        try:
            loaded = FieldEntrySchema().load(entry) if isinstance(entry, Mapping) else None
        except ValidationError as exc:
            for line in flatten_messages(exc.messages, where):
                errors.setdefault(line.split(": ", 1)[0], []).append(line.split(": ", 1)[1])
            continue
        if loaded is None:
            errors.setdefault(where, []).append("expected a field name or {field, values, write}")
            continue
        value_type = vocabulary.get(metric)
        if value_type is None:
            known = ", ".join(vocabulary)
            errors.setdefault(where, []).append(f"not a {subject} metric; known: {known}")
            continue
        field_name = loaded["field"]
        spec = manifest_fields.get(field_name)
        if field_name.lower() in used_fields:
            problems.append(
                f"field {field_name} is already mapped to {used_fields[field_name.lower()]}"
            )
        used_fields[field_name.lower()] = metric
        if spec is not None:
            if spec.metric != metric:
                problems.append(
                    f"field {field_name} is the manifest's field for {spec.metric}, not {metric}"
                )
            elif spec.type not in types_for_metric(crm_manifest.crm, value_type):
                problems.append(f"field {field_name} ({spec.type}) cannot hold {value_type}")
        allowed = enum_values(value_type)
        values: dict[str, str] = dict(loaded.get("values") or {})
        if values and not allowed:
            problems.append(
                "values: only category, segment and revenue status metrics translate values"
            )
        elif allowed:
            unknown = sorted(set(values) - set(allowed))
            if unknown:
                problems.append(f"values: unknown {value_type} value(s) {', '.join(unknown)}")
            if not values and spec is not None and is_picklist(crm_manifest.crm, spec.type):
                values = {v: spec.options[i].value for i, v in enumerate(allowed)}
            missing = [v for v in allowed if v not in values]
            if values and missing:
                problems.append(f"values: no translation for {', '.join(missing)}")
            if not values:
                values = {v: v for v in allowed}
        if problems:
            errors.setdefault(where, []).extend(problems)
            continue
        mapped.append(FieldMapping(metric, field_name, value_type, values, loaded["write"], spec))
    return SubjectMapping(subject, obj.name, tuple(mapped))


def parse_mapping(data: Any, manifest: Manifest, path: str | Path) -> CrmMapping:
    """Validate already-read mapping data; ``DataFileError`` names the file and each key."""
    if not isinstance(data, Mapping):
        raise DataFileError(path, ["(top level): expected a mapping"])
    try:
        loaded = MappingFileSchema().load(data)
    except ValidationError as exc:
        raise DataFileError(path, flatten_messages(exc.messages)) from exc
    crm_manifest = manifest.for_crm(loaded["crm"])
    errors: dict[str, Any] = {}
    subjects = {s: _subject_mapping(s, loaded[s], crm_manifest, errors) for s in SUBJECTS}
    rule = DISABLED_FOLLOW_UP
    raw_rule = loaded.get("follow_up_task")
    if raw_rule:
        for key in ("subject", "body"):
            for problem in _placeholder_problems(raw_rule[key]):
                errors.setdefault(f"follow_up_task.{key}", []).append(problem)
        fixed_priorities = TASK_PRIORITIES.get(loaded["crm"])
        if fixed_priorities and raw_rule["priority"].upper() not in fixed_priorities:
            errors.setdefault("follow_up_task.priority", []).append(
                f"{raw_rule['priority']!r} is not a {loaded['crm']} task priority: one of "
                f"{', '.join(fixed_priorities)}; the CRM would refuse every task"
            )
        category = subjects["contact"].by_metric().get("nps.category")
        if raw_rule["enabled"] and (category is None or not category.write):
            errors.setdefault("follow_up_task.enabled", []).append(
                "a follow-up task on a change to detractor needs contact nps.category written"
            )
        rule = FollowUpRule(
            enabled=raw_rule["enabled"],
            subject=raw_rule["subject"],
            body=raw_rule["body"],
            due_in_days=raw_rule["due_in_days"],
            assign_to_owner=raw_rule["assign_to"] == "record_owner",
            priority=raw_rule["priority"],
        )
    if errors:
        raise DataFileError(path, flatten_messages(errors))
    return CrmMapping(loaded["crm"], subjects["contact"], subjects["account"], rule, str(path))


def load_mapping(
    crm: str,
    config: Mapping[str, Any] | None = None,
    *,
    manifest: Manifest | None = None,
    path: str | Path | None = None,
) -> CrmMapping:
    """Read and validate ``<mappings dir>/<crm>.yaml`` (dir: CX360_MAPPINGS_DIR or default)."""
    file = Path(path) if path else mappings_dir(config or {}) / f"{crm}.yaml"
    mapping = parse_mapping(read_yaml(file), manifest or load_manifest(), file)
    if mapping.crm != crm:
        raise DataFileError(file, [f"crm: is {mapping.crm!r}, expected {crm!r}"])
    return mapping
