"""What the README says about the scorecard's shape and the rejected file is what the code does
(issue 18 #3 and #5: the README described both wrongly)."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from connector.importer.run import default_rejected_path
from tests.conftest import score_outbox

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _documented_scorecard_keys() -> list[str]:
    found = re.search(r"A scorecard is `(\{.*?\})`", " ".join(README.split()))
    assert found, "README: the sentence 'A scorecard is `{...}`' is missing"
    return re.findall(r'"(\w+)"', found.group(1))


def test_given_readme_when_reading_scorecard_shape_then_keys_are_those_the_api_returns(
    app: Flask, client: FlaskClient, ingest_headers: dict[str, str], read_headers: dict[str, str]
):
    response = {"kind": "nps", "score": 9, "email": "anna@example.com"}
    assert (
        client.post("/api/v1/responses", json=response, headers=ingest_headers).status_code == 200
    )
    score_outbox(app)
    card = client.get("/api/v1/contacts/anna@example.com/scorecard", headers=read_headers).json
    assert sorted(_documented_scorecard_keys()) == sorted(card)
    assert "nps.score" in card["metrics"] and "`metrics` holds every metric" in README


def test_given_readme_when_reading_rejected_file_name_then_it_is_the_one_written():
    text = " ".join(README.split())
    assert "`FILE.rejected.csv`" not in text
    example = re.search(r"`NAME\.rejected\.csv` beside the file \(`(\S+)`: `(\S+)`", text)
    assert example, "README: the rejected file's name and example are missing"
    source, rejected = example.groups()
    assert default_rejected_path(Path(source)) == Path(rejected)
