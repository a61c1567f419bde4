"""SOQL over REST: ``/query`` and ``/queryAll`` (one page of up to 2,000 records, or the
``Sforce-Query-Options: batchSize``), the ``nextRecordsUrl`` locators for the next pages, and
queries sent as subrequests of a Composite request (``/composite``), for SOQL too long for a URI.
"""

from __future__ import annotations

import secrets
import urllib.parse
from typing import Any

from crm_sandbox.replies import HttpError, Reply
from crm_sandbox.routing import Routes
from crm_sandbox.salesforce import soql
from crm_sandbox.salesforce.calls import API, Call
from crm_sandbox.salesforce.data import Locator
from crm_sandbox.salesforce.errors import sf_error, soql_error
from crm_sandbox.salesforce.evaluate import QueryEvaluator

DEFAULT_QUERY_BATCH = 2000
MAX_LOCATORS = 500
#: REST API Developer Guide, "Composite": up to 25 subrequests, of which up to 5 may be
#: query operations; the whole request counts as one call against the API limits.
MAX_SUBREQUESTS = 25
MAX_QUERY_SUBREQUESTS = 5
#: SOQL and SOSL Reference, "SOQL and SOSL Limits": a SOQL statement is at most 100,000
#: characters.
MAX_SOQL_CHARS = 100_000

routes = Routes()


@routes.get(f"{API}/query", "query")
@routes.get(f"{API}/queryAll", "query")
def query(call: Call) -> Reply:
    """``/queryAll`` also returns deleted records, merged-away ones included (REST API
    Developer Guide, "QueryAll")."""
    text = call.request.args.get("q", "")
    batch = DEFAULT_QUERY_BATCH
    options = call.request.headers.get("Sforce-Query-Options", "")
    for part in options.split(","):
        key, _, raw = part.partition("=")
        if key.strip() == "batchSize" and raw.strip().isdigit():
            batch = min(max(int(raw), 200), DEFAULT_QUERY_BATCH)
    include_deleted = call.request.path.rstrip("/").endswith("/queryAll")
    return Reply(200, run_query(call, text, batch, include_deleted))


def run_query(
    call: Call, text: str, batch: int = DEFAULT_QUERY_BATCH, include_deleted: bool = False
) -> dict[str, Any]:
    if len(text) > MAX_SOQL_CHARS:
        raise sf_error(
            400,
            "MALFORMED_QUERY",
            f"SOQL statements cannot be longer than {MAX_SOQL_CHARS} characters.",
        )
    try:
        parsed = soql.parse(text)
    except soql.SoqlError as exc:
        raise soql_error(text, exc) from None
    try:
        evaluator = QueryEvaluator(call.data, parsed, text, include_deleted)
        select, matched = evaluator.run()
    except soql.SoqlError as exc:
        raise soql_error(text, exc) from None
    if parsed.count_only and not evaluator.aggregated:
        return {"totalSize": len(matched), "done": True, "records": []}
    if evaluator.aggregated:
        try:
            rows = evaluator.aggregate(matched)
        except soql.SoqlError as exc:
            raise soql_error(text, exc) from None
        return {"totalSize": len(rows), "done": True, "records": rows}
    return page(call, Locator(evaluator.object_name, select, matched, 0, batch))


def page(call: Call, cursor: Locator) -> dict[str, Any]:
    """The records from ``cursor.position`` on, and a new locator when more remain."""
    object_name, matched, position, batch = (
        cursor.object_name,
        cursor.ids,
        cursor.position,
        cursor.batch,
    )
    chunk = matched[position : position + batch]
    records = []
    store = call.data.rows(object_name, include_deleted=True)  # ids chosen by the query
    for rid in chunk:
        record = store.get(rid)
        if record is not None:
            records.append(project(call, object_name, record, cursor.select))
    body: dict[str, Any] = {"totalSize": len(matched), "done": True, "records": records}
    if position + batch < len(matched):
        locator = f"01g5g{secrets.token_hex(5)}-{position + batch}"
        call.data.locators[locator] = Locator(
            object_name, cursor.select, matched, position + batch, batch
        )
        while len(call.data.locators) > MAX_LOCATORS:
            call.data.locators.popitem(last=False)
        body["done"] = False
        body["nextRecordsUrl"] = f"/services/data/{call.version}/query/{locator}"
    return body


def project(
    call: Call, object_name: str, record: dict[str, Any], select: list[tuple[str, ...]]
) -> dict[str, Any]:
    """One record with the selected fields; a parent's fields nested under its relationship."""
    out: dict[str, Any] = {"attributes": call.attributes(object_name, record["Id"])}
    for path in select:
        if len(path) == 1:
            out[path[0]] = record.get(path[0])
            continue
        relation, reference, target, target_field = path
        parent_id = record.get(reference)
        parent = call.data.records.get(target, {}).get(parent_id) if parent_id else None
        if parent is None:
            out.setdefault(relation, None)
            continue
        nested = out.get(relation) or {"attributes": call.attributes(target, str(parent_id))}
        nested[target_field] = parent.get(target_field)
        out[relation] = nested
    return out


@routes.get(f"{API}/query/<locator>", "query_more")
@routes.get(f"{API}/queryAll/<locator>", "query_more")
def query_more(call: Call, locator: str) -> Reply:
    cursor = call.data.locators.pop(locator, None)
    if cursor is None:
        raise sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    return Reply(200, page(call, cursor))


@routes.post(f"{API}/composite", "composite")
def composite(call: Call) -> Reply:
    """``POST /composite`` with ``compositeRequest``: the sandbox answers GET ``query`` /
    ``queryAll`` subrequests (the documented way to send SOQL longer than a URI may be: Salesforce
    Help 000386264, "Maximum number of rows returned by SOQL queries over the REST API"). Each
    subrequest answers ``{body, httpHeaders, httpStatusCode, referenceId}``; an error is that
    subrequest's body, the others still run (``allOrNone`` false)."""
    body = call.json_object()
    requests_ = body.get("compositeRequest")
    if not isinstance(requests_, list) or not requests_:
        raise sf_error(400, "INVALID_FIELD", "compositeRequest: must not be empty")
    if len(requests_) > MAX_SUBREQUESTS:
        raise sf_error(
            400, "LIMIT_EXCEEDED", f"Limit Exceeded: maximum of {MAX_SUBREQUESTS} subrequests"
        )
    queries = [r for r in requests_ if "/query" in str((r or {}).get("url", ""))]
    if len(queries) > MAX_QUERY_SUBREQUESTS:
        raise sf_error(
            400,
            "LIMIT_EXCEEDED",
            f"Limit Exceeded: maximum of {MAX_QUERY_SUBREQUESTS} query subrequests",
        )
    answers = []
    for request in requests_:
        if not isinstance(request, dict) or not request.get("referenceId"):
            raise sf_error(400, "INVALID_FIELD", "referenceId: must not be null")
        url = urllib.parse.urlsplit(str(request.get("url", "")))
        method = str(request.get("method", "")).upper()
        path = url.path.rstrip("/")
        prefix = f"/services/data/{call.version}/"
        if method != "GET" or path not in (prefix + "query", prefix + "queryAll"):
            raise sf_error(
                400,
                "INVALID_FIELD",
                f"the sandbox answers only GET {prefix}query subrequests, not {method} {path}",
            )
        text = urllib.parse.parse_qs(url.query).get("q", [""])[0]
        try:
            reply = Reply(200, run_query(call, text, include_deleted=path.endswith("queryAll")))
        except HttpError as exc:
            reply = exc.reply
        answers.append(
            {"body": reply.body, "httpHeaders": {}, "httpStatusCode": reply.status,
             "referenceId": request["referenceId"]}
        )  # fmt: skip
    return Reply(200, {"compositeResponse": answers})
