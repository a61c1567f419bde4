"""manifest.yaml: the plugin manifest, validated with marshmallow.

It names what cx360 needs from a CRM (scopes, permissions), the fields it creates per CRM
object (types, picklist values, labels, and the metric each holds), its REST endpoints and its
configuration keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from connector.crm.datafiles import (
    DataFileError,
    default_manifest_path,
    flatten_messages,
    read_yaml,
)
from connector.crm.fieldtypes import (
    CRMS,
    HUBSPOT_FIELD_TYPES,
    creatable_types,
    is_picklist,
    types_for_metric,
)
from connector.crm.types import SUBJECTS, FieldSpec, PicklistOption, Subject
from connector.crm.vocabulary import enum_values, metric_types

_SF_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,36}__c$")
_HS_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class OptionSchema(_Strict):
    value = fields.String(required=True, validate=validate.Length(min=1, max=255))
    label = fields.String(required=True, validate=validate.Length(min=1, max=255))


class FieldSchema(_Strict):
    metric = fields.String(required=True)
    name = fields.String(required=True)
    label = fields.String(required=True, validate=validate.Length(min=1, max=40))
    description = fields.String(load_default="")
    type = fields.String(required=True)
    field_type = fields.String(validate=validate.OneOf(HUBSPOT_FIELD_TYPES))
    precision = fields.Integer(validate=validate.Range(min=1, max=18))
    scale = fields.Integer(validate=validate.Range(min=0, max=17))
    length = fields.Integer(validate=validate.Range(min=1, max=131072))
    options = fields.String()

    @validates_schema
    def _sizes(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("type") in {"Number", "Percent"} and (
            "precision" not in data or "scale" not in data
        ):
            raise ValidationError("Number and Percent fields need precision and scale", "type")
        if data.get("type") in {"Text", "LongTextArea"} and "length" not in data:
            raise ValidationError("Text fields need a length", "type")


class ObjectSchema(_Strict):
    name = fields.String(required=True)
    field_list = fields.List(fields.Nested(FieldSchema), required=True, data_key="fields")


class ObjectsSchema(_Strict):
    contact = fields.Nested(ObjectSchema, required=True)
    account = fields.Nested(ObjectSchema, required=True)


class GroupSchema(_Strict):
    name = fields.String(required=True, validate=validate.Regexp(_HS_NAME))
    label = fields.String(required=True)


class CrmSchema(_Strict):
    picklists = fields.Dict(
        keys=fields.String(), values=fields.List(fields.Nested(OptionSchema)), load_default={}
    )
    objects = fields.Nested(ObjectsSchema, required=True)
    property_group = fields.Nested(GroupSchema)


class CrmsSchema(_Strict):
    salesforce = fields.Nested(CrmSchema, required=True)
    hubspot = fields.Nested(CrmSchema, required=True)


class ConfigKeySchema(_Strict):
    name = fields.String(required=True, validate=validate.Regexp(r"^[A-Z][A-Z0-9_]*$"))
    secret = fields.Boolean(required=True)
    description = fields.String(load_default="")


class EndpointSchema(_Strict):
    method = fields.String(
        required=True, validate=validate.OneOf(["GET", "POST", "PUT", "PATCH", "DELETE"])
    )
    path = fields.String(required=True, validate=validate.Regexp(r"^/"))
    description = fields.String(load_default="")


class ManifestSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(required=True)
    version = fields.String(required=True, validate=validate.Regexp(r"^\d+\.\d+\.\d+"))
    description = fields.String(load_default="")
    permissions = fields.Dict(required=True)
    endpoints = fields.List(fields.Nested(EndpointSchema), required=True)
    config = fields.List(fields.Nested(ConfigKeySchema), required=True)
    crms = fields.Nested(CrmsSchema, required=True)

    @validates_schema
    def _fields_fit_their_crm(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, Any] = {}
        for crm in CRMS:
            section = data.get("crms", {}).get(crm)
            if not section:
                continue
            for subject in SUBJECTS:
                problems = _field_problems(crm, subject, section)
                for index, message in problems:
                    where = f"crms.{crm}.objects.{subject}.fields.{index}"
                    errors.setdefault(where, []).append(message)
        if errors:
            raise ValidationError(errors)


def _field_problems(crm: str, subject: Subject, section: Mapping[str, Any]) -> list[tuple]:
    problems: list[tuple[int, str]] = []
    vocabulary = metric_types(subject)
    seen_names: set[str] = set()
    seen_metrics: set[str] = set()
    picklists = section.get("picklists", {})
    for index, spec in enumerate(section["objects"][subject]["field_list"]):
        name, metric, ftype = spec["name"], spec["metric"], spec["type"]
        pattern = _SF_NAME if crm == "salesforce" else _HS_NAME
        if not pattern.match(name):
            problems.append((index, f"name {name!r} is not a valid {crm} custom field name"))
        if name.lower() in seen_names:
            problems.append((index, f"name {name!r} appears twice"))
        if metric in seen_metrics:
            problems.append((index, f"metric {metric!r} appears twice"))
        seen_names.add(name.lower())
        seen_metrics.add(metric)
        if ftype not in creatable_types(crm):
            problems.append((index, f"type {ftype!r} is not one cx360 can create in {crm}"))
        value_type = vocabulary.get(metric)
        if value_type is None:
            problems.append((index, f"metric {metric!r} is not a {subject} metric"))
            continue
        if ftype not in types_for_metric(crm, value_type):
            allowed = ", ".join(sorted(types_for_metric(crm, value_type)))
            problems.append((index, f"type {ftype!r} cannot hold {value_type} ({allowed})"))
        if is_picklist(crm, ftype):
            options = spec.get("options")
            if options not in picklists:
                problems.append((index, f"options {options!r} is not a picklist of {crm}"))
            elif len(picklists[options]) < len(enum_values(value_type)):
                problems.append((index, f"picklist {options!r} has too few values"))
        if crm == "hubspot" and "field_type" not in spec:
            problems.append((index, "field_type is required for HubSpot properties"))
    return problems


@dataclass(frozen=True)
class CrmObjectSpec:
    subject: Subject
    name: str
    fields: tuple[FieldSpec, ...]

    def by_name(self) -> dict[str, FieldSpec]:
        return {spec.name: spec for spec in self.fields}

    def by_metric(self) -> dict[str, FieldSpec]:
        return {spec.metric: spec for spec in self.fields if spec.metric}


@dataclass(frozen=True)
class CrmManifest:
    crm: str
    objects: Mapping[Subject, CrmObjectSpec]
    property_group: tuple[str, str] | None


@dataclass(frozen=True)
class ConfigKey:
    name: str
    secret: bool
    description: str


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    permissions: Mapping[str, Any]
    endpoints: tuple[tuple[str, str], ...]
    config: tuple[ConfigKey, ...]
    crms: Mapping[str, CrmManifest]
    path: str

    def for_crm(self, crm: str) -> CrmManifest:
        return self.crms[crm]


def _crm_manifest(crm: str, section: Mapping[str, Any]) -> CrmManifest:
    picklists = {
        name: tuple(PicklistOption(o["value"], o["label"]) for o in options)
        for name, options in section.get("picklists", {}).items()
    }
    objects: dict[Subject, CrmObjectSpec] = {}
    for subject in SUBJECTS:
        raw = section["objects"][subject]
        specs = tuple(
            FieldSpec(
                name=f["name"],
                label=f["label"],
                type=f["type"],
                metric=f["metric"],
                description=f.get("description", ""),
                precision=f.get("precision"),
                scale=f.get("scale"),
                length=f.get("length"),
                field_type=f.get("field_type"),
                options=picklists.get(f.get("options", ""), ()),
            )
            for f in raw["field_list"]
        )
        objects[subject] = CrmObjectSpec(subject, raw["name"], specs)
    group = section.get("property_group")
    return CrmManifest(crm, objects, (group["name"], group["label"]) if group else None)


def parse_manifest(data: Any, path: str | Path = "manifest.yaml") -> Manifest:
    """Validate already-read manifest data; raises ``DataFileError`` naming file and keys."""
    if not isinstance(data, Mapping):
        raise DataFileError(path, ["(top level): expected a mapping"])
    try:
        loaded = ManifestSchema().load(data)
    except ValidationError as exc:
        raise DataFileError(path, flatten_messages(exc.messages)) from exc
    return Manifest(
        name=loaded["name"],
        version=loaded["version"],
        permissions=loaded["permissions"],
        endpoints=tuple((e["method"], e["path"]) for e in loaded["endpoints"]),
        config=tuple(ConfigKey(c["name"], c["secret"], c["description"]) for c in loaded["config"]),
        crms={crm: _crm_manifest(crm, loaded["crms"][crm]) for crm in CRMS},
        path=str(path),
    )


def load_manifest(path: str | Path | None = None) -> Manifest:
    """Read and validate manifest.yaml (default: the project's / the packaged one)."""
    file = Path(path) if path else default_manifest_path()
    return parse_manifest(read_yaml(file), file)
