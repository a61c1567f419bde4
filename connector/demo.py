"""``cx360 demo``: cx360 on embedded defaults with the sample data, nothing to install.

It migrates the SQLite database under the instance folder, starts the web app, posts the
shipped sample responses and ratings through the REST API over HTTP (as an integrator would),
prints the account scorecards, and keeps serving so the API can be tried with curl and the
docs page.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from rich.console import Console
from rich.table import Table
from werkzeug.serving import make_server

from connector.app import create_app, database
from connector.auth import create_api_key
from connector.storage.migrate import upgrade

SAMPLE_DIR = Path(__file__).parent / "sample_data"
BATCH = 200


def sample_items(name: str) -> list[dict[str, Any]]:
    with open(SAMPLE_DIR / name, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@dataclass
class DemoKeys:
    ingest: str
    read: str


@contextmanager
def running_app(config: dict[str, Any], host: str, port: int) -> Iterator[str]:
    """The web app served on a real socket in a thread; yields its base URL."""
    app = create_app(config)
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        database(app).dispose()


def create_demo_keys(config: dict[str, Any]) -> DemoKeys:
    app = create_app(config)
    with database(app).session() as session:
        _, ingest = create_api_key(session, "ingest", "demo ingest")
        _, read = create_api_key(session, "read", "demo read")
    database(app).dispose()
    return DemoKeys(ingest=ingest, read=read)


def load_samples(base_url: str, key: str) -> dict[str, int]:
    """Post the sample responses and ratings in batches; returns counts per kind of item."""
    headers = {"Authorization": f"Bearer {key}"}
    counts = {"responses": 0, "ratings": 0}
    with requests.Session() as http:
        for kind, path in (("responses", "responses.jsonl"), ("ratings", "ratings.jsonl")):
            items = sample_items(path)
            for start in range(0, len(items), BATCH):
                reply = http.post(
                    f"{base_url}/api/v1/{kind}",
                    json={kind: items[start : start + BATCH]},
                    headers=headers,
                    timeout=60,
                )
                reply.raise_for_status()
                counts[kind] += len(items[start : start + BATCH])
    return counts


def account_table(base_url: str, key: str, domains: list[str]) -> Table:
    table = Table(title="Account scorecards (computed by cx360)")
    for column in ("account", "NPS", "±MoE", "N", "CSAT %", "rNPS", "potential", "segment"):
        table.add_column(column)
    with requests.Session() as http:
        for domain in domains:
            card = http.get(
                f"{base_url}/api/v1/accounts/{domain}/scorecard",
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            ).json()["metrics"]
            table.add_row(
                domain,
                *(
                    "-" if card[k] is None else str(card[k])
                    for k in (
                        "nps.score",
                        "nps.moe",
                        "nps.responses",
                        "csat.pct",
                        "rnps.score",
                        "rnps.potential_avg",
                        "cx360.segment",
                    )
                ),
            )
    return table


def run_demo(config: dict[str, Any], host: str = "127.0.0.1", port: int = 8360,
             serve_forever: bool = True, console: Console | None = None) -> None:  # fmt: skip
    console = console or Console()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log in the demo
    upgrade(config["CX360_DATABASE_URL"])
    keys = create_demo_keys(config)
    with running_app(config, host, port) as base_url:
        counts = load_samples(base_url, keys.ingest)
        console.print(
            f"Loaded {counts['responses']} responses and {counts['ratings']} employee ratings "
            f"through {base_url}/api/v1"
        )
        domains = sorted({i["account_domain"] for i in sample_items("responses.jsonl")
                          if i.get("account_domain")})  # fmt: skip
        console.print(account_table(base_url, keys.read, domains))
        console.print(f"API docs:  {base_url}/api/docs")
        console.print(f"Read key:  {keys.read}")
        console.print(
            f"Try:       curl -H 'Authorization: Bearer {keys.read}' "
            f"{base_url}/api/v1/accounts/{domains[0]}/scorecard"
        )
        if serve_forever:
            console.print("Serving; press Ctrl-C to stop.")
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                console.print("stopped")
