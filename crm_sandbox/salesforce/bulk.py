"""Bulk API 2.0 ingest: create a job, upload one CSV, close it (the sandbox then processes
every row at once), read the job and its successful, failed and unprocessed rows as CSV.

Rows follow the job's operation (insert, update, upsert by an external id, delete); an empty
cell leaves a field as it is and ``#N/A`` clears it, as Salesforce documents for Bulk CSV.
"""

from __future__ import annotations

import csv
import io
import time
from typing import Any

from crm_sandbox.replies import Reply
from crm_sandbox.routing import Routes
from crm_sandbox.salesforce.calls import API, Call
from crm_sandbox.salesforce.data import BulkJob, SalesforceData
from crm_sandbox.salesforce.errors import UnknownFieldError, not_found, sf_error
from crm_sandbox.salesforce.schema import FieldError, JsonTypeError, now_datetime

JOBS = f"{API}/jobs/ingest"
DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}

routes = Routes()


def _job(call: Call, job_id: str) -> BulkJob:
    job = call.data.jobs.get(job_id)
    if job is None:
        raise not_found()
    return job


def _job_info(call: Call, job: BulkJob) -> dict[str, Any]:
    version = call.version
    info: dict[str, Any] = {
        "id": job.id,
        "operation": job.operation,
        "object": job.object_name,
        "createdById": call.data.default_owner,
        "createdDate": job.created,
        "systemModstamp": job.modified or job.created,
        "state": job.state,
        "concurrencyMode": "Parallel",
        "contentType": "CSV",
        "apiVersion": float(version.lstrip("v")),
        "jobType": "V2Ingest",
        "contentUrl": f"services/data/{version}/jobs/ingest/{job.id}/batches",
        "lineEnding": job.line_ending,
        "columnDelimiter": job.column_delimiter,
        "numberRecordsProcessed": len(job.successful) + len(job.failed),
        "numberRecordsFailed": len(job.failed),
        "retries": 0,
        "totalProcessingTime": job.processing_ms,
        "apiActiveProcessingTime": job.processing_ms,
        "apexProcessingTime": 0,
    }
    if job.external_id_field:
        info["externalIdFieldName"] = job.external_id_field
    if job.error_message:
        info["errorMessage"] = job.error_message
    return info


@routes.post(JOBS, "bulk2.create_job")
def create_job(call: Call) -> Reply:
    body = call.json_object()
    operation = body.get("operation")
    if operation not in ("insert", "update", "upsert", "delete", "hardDelete"):
        raise sf_error(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
    obj = call.data.object_named(str(body.get("object") or ""))
    if obj is None:
        raise sf_error(400, "INVALIDJOB", f"InvalidJob : Invalid object: {body.get('object')}")
    external = body.get("externalIdFieldName")
    if operation == "upsert":
        found = call.data.visible_field(obj["name"], str(external or ""))
        if found is None or not (found["externalId"] or found["name"] == "Id"):
            raise sf_error(
                400,
                "INVALIDJOB",
                "InvalidJob : External ID was blank or not an "
                f"external ID field for {obj['name']}: {external}",
            )
        external = found["name"]
    delimiter = str(body.get("columnDelimiter") or "COMMA")
    if delimiter not in DELIMITERS:
        raise sf_error(400, "INVALIDJOB", f"InvalidJob : Invalid column delimiter: {delimiter}")
    job = BulkJob(
        id=call.data.ids.new("Bulk2Job"),
        object_name=obj["name"],
        operation=operation,
        external_id_field=external if operation == "upsert" else None,
        column_delimiter=delimiter,
        line_ending=str(body.get("lineEnding") or "LF"),
        created=now_datetime(),
    )
    call.data.jobs[job.id] = job
    return Reply(200, _job_info(call, job))


@routes.get(JOBS, "bulk2.list_jobs")
def list_jobs(call: Call) -> Reply:
    records = [_job_info(call, j) for j in call.data.jobs.values()]
    return Reply(200, {"done": True, "records": records, "nextRecordsUrl": None})


@routes.get(f"{JOBS}/<job_id>", "bulk2.get_job")
def get_job(call: Call, job_id: str) -> Reply:
    return Reply(200, _job_info(call, _job(call, job_id)))


@routes.delete(f"{JOBS}/<job_id>", "bulk2.delete_job")
def delete_job(call: Call, job_id: str) -> Reply:
    job = _job(call, job_id)
    if job.state in ("Open", "UploadComplete", "InProgress"):
        raise sf_error(
            400,
            "INVALIDJOBSTATE",
            f"Job is in state {job.state}; only closed jobs can be deleted",
        )
    del call.data.jobs[job_id]
    return Reply(204)


@routes.put(f"{JOBS}/<job_id>/batches", "bulk2.upload")
def upload(call: Call, job_id: str) -> Reply:
    job = _job(call, job_id)
    if job.state != "Open":
        raise sf_error(409, "INVALIDJOBSTATE", f"Job is not open for upload: {job.state}")
    if job.uploads:
        raise sf_error(400, "INVALIDJOBSTATE", "Only one upload is allowed per job")
    job.uploads.append(call.request.get_data(as_text=True))
    return Reply(201, None, content_type="text/plain")


@routes.patch(f"{JOBS}/<job_id>", "bulk2.set_state")
def set_state(call: Call, job_id: str) -> Reply:
    job = _job(call, job_id)
    state = call.json_object().get("state")
    if state == "Aborted":
        if job.state in ("JobComplete", "Failed"):
            raise sf_error(400, "INVALIDJOBSTATE", f"Job is already {job.state}")
        job.state = "Aborted"
    elif state == "UploadComplete":
        if job.state != "Open":
            raise sf_error(400, "INVALIDJOBSTATE", f"Job is not open: {job.state}")
        reply = _job_info(call, job)
        reply["state"] = "UploadComplete"
        process(call.data, job)
        return Reply(200, reply)
    else:
        raise sf_error(400, "INVALIDJOBSTATE", f"Invalid state transition to {state}")
    job.modified = now_datetime()
    return Reply(200, _job_info(call, job))


def process(data: SalesforceData, job: BulkJob) -> None:
    """Every row of the uploaded CSV, each into ``job.successful`` or ``job.failed``."""
    started = time.perf_counter()
    text = "".join(job.uploads)
    if not text.strip():
        job.state, job.error_message = "Failed", "InvalidBatch : Empty batch"
        return
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[job.column_delimiter])
    rows = list(reader)
    header, body_rows = rows[0], [r for r in rows[1:] if r]
    job.columns = header
    fields = data.visible_fields(job.object_name)
    for column in header:
        if column.lower() not in fields:
            job.state = "Failed"
            job.error_message = f"InvalidBatch : Field name not found : {column}"
            return
    for row in body_rows:
        original = dict(zip(header, row, strict=False))
        # a row that failed on an existing record reports that record's id; a failed insert
        # has none
        target: dict[str, str] = {}
        try:
            rid, created = _write_row(data, job, original, target)
        except FieldError as exc:
            job.failed.append(
                {
                    "sf__Id": target.get("id", ""),
                    "sf__Error": f"{exc.code}:{exc.message}:{','.join(exc.fields)} --",
                    **original,
                }
            )
        except (UnknownFieldError, JsonTypeError) as exc:
            job.failed.append(
                {
                    "sf__Id": target.get("id", ""),
                    "sf__Error": f"INVALID_FIELD:{exc}: --",
                    **original,
                }
            )
        else:
            job.successful.append({"sf__Id": rid, "sf__Created": str(created).lower(), **original})
    job.state = "JobComplete"
    job.processing_ms = int((time.perf_counter() - started) * 1000)
    job.modified = now_datetime()


def _write_row(
    data: SalesforceData, job: BulkJob, original: dict[str, str], target: dict[str, str]
) -> tuple[str, bool]:
    """One CSV row applied: the record id, and whether it was created. ``target["id"]`` is
    set to the existing record the row writes to as soon as it is known."""
    body: dict[str, Any] = {}
    for column, value in original.items():
        if value == "":
            continue  # an empty cell leaves the field as it is
        body[column] = None if value == "#N/A" else value
    name = job.object_name

    def insert() -> tuple[str, bool]:
        values = data.prepare(name, body, creating=True, from_csv=True)
        return data.insert(name, values), True

    def update(rid: str, key_column: str) -> tuple[str, bool]:
        target["id"] = rid
        rest = {k: v for k, v in body.items() if k.lower() != key_column.lower()}
        data.update(name, rid, data.prepare(name, rest, creating=False, from_csv=True))
        return rid, False

    raw_id = next((v for k, v in body.items() if k.lower() == "id"), None)
    if job.operation in ("delete", "hardDelete"):
        rid = data.row_id(name, raw_id)
        target["id"] = rid
        data.delete(name, rid)
        return rid, False
    if job.operation == "update":
        return update(data.row_id(name, raw_id), "Id")
    if job.operation == "insert":
        return insert()
    external = job.external_id_field or "Id"
    key: Any = next((v for k, v in body.items() if k.lower() == external.lower()), None)
    if external == "Id":
        return update(data.row_id(name, key), "Id") if key else insert()
    if key in (None, ""):
        raise FieldError("MISSING_ARGUMENT", f"{external} not specified", [external])
    hits = data.lookup(name, external, key)
    if len(hits) > 1:
        raise FieldError(
            "DUPLICATE_EXTERNAL_ID",
            f"{external}: more than one record found for external id field: {sorted(hits)}",
            [external],
        )
    return update(next(iter(hits)), external) if hits else insert()


@routes.get(f"{JOBS}/<job_id>/<kind>", "bulk2.results")
def results(call: Call, job_id: str, kind: str) -> Reply:
    job = _job(call, job_id)
    if kind not in ("successfulResults", "failedResults", "unprocessedrecords"):
        raise not_found()
    if job.state not in ("JobComplete", "Failed", "Aborted"):
        raise sf_error(400, "INVALIDJOBSTATE", f"Job is not complete: {job.state}")
    if kind == "successfulResults":
        header, rows = ["sf__Id", "sf__Created", *job.columns], job.successful
    elif kind == "failedResults":
        header, rows = ["sf__Id", "sf__Error", *job.columns], job.failed
    else:
        header, rows = list(job.columns), []
    out = io.StringIO()
    writer = csv.DictWriter(
        out,
        fieldnames=header,
        quoting=csv.QUOTE_ALL,
        lineterminator="\n",
        extrasaction="ignore",
    )
    writer.writeheader()
    writer.writerows(rows)
    return Reply(200, out.getvalue(), content_type="text/csv")
