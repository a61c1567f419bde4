"""The pages through Flask's test client: login, access rules, CSRF, figures, the rating form."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from connector.app import create_app, database
from connector.config import ConfigError
from connector.storage import ApiKey, EmployeeRating, OutboxItem, utcnow
from crm_sandbox import SandboxServer
from tests.web.conftest import (
    ADMIN,
    OUTSIDER,
    RATER,
    SAMPLE_RANGE,
    csrf_of,
    expected_sample_nps,
    load_samples,
    sign_in,
    sign_in_as,
)

KeyOf = Callable[[str], str]


@pytest.fixture
def samples(client: FlaskClient, key_of: KeyOf) -> None:
    load_samples(client, key_of("ingest"))


def _contact_id(app: Flask, email: str) -> int:
    from connector.storage import Contact

    with database(app).session() as session:
        found = session.scalar(select(Contact.id).where(Contact.email == email))
    assert found is not None
    return int(found)


# -- login and access ------------------------------------------------------------------------


def test_given_no_session_when_opening_dashboard_then_redirected_to_login(client: FlaskClient):
    reply = client.get("/?from=2026-01-01")
    assert reply.status_code == 302
    assert reply.headers["Location"].startswith("/login?next=")


def test_given_invalid_key_when_signing_in_then_401_page_says_so(client: FlaskClient):
    reply = sign_in(client, "cx360_deadbeef_not-a-key")
    assert reply.status_code == 401
    assert reply.mimetype == "text/html"
    assert "That key is not valid" in reply.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_given_read_key_when_signing_in_then_dashboard_shows_and_cookie_is_httponly_lax(
    client: FlaskClient, key_of: KeyOf
):
    reply = sign_in(client, key_of("read"), next="/?from=2026-01-01")
    assert reply.status_code == 302
    assert reply.headers["Location"] == "/?from=2026-01-01"
    cookie = reply.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/")
    assert page.status_code == 200
    assert "Customer feedback" in page.get_data(as_text=True)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_given_secure_cookies_configured_when_signing_in_then_cookie_is_https_only(
    app: Flask, key_of: KeyOf
):
    assert "Secure" not in sign_in(app.test_client(), key_of("read")).headers["Set-Cookie"]
    app.config["SESSION_COOKIE_SECURE"] = True  # what CX360_SECURE_COOKIES=true sets
    assert "Secure" in sign_in(app.test_client(), key_of("read")).headers["Set-Cookie"]


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil"])
def test_given_next_pointing_elsewhere_when_signing_in_then_goes_to_dashboard(
    client: FlaskClient, key_of: KeyOf, target: str
):
    reply = sign_in(client, key_of("read"), next=target)
    assert reply.headers["Location"] == "/"


def test_given_login_form_without_csrf_token_when_posting_then_400_html(
    client: FlaskClient, key_of: KeyOf
):
    reply = client.post("/login", data={"api_key": key_of("read")})
    assert reply.status_code == 400
    assert reply.mimetype == "text/html"
    assert "did not come from this site" in reply.get_data(as_text=True)


def test_given_ingest_key_only_when_opening_dashboard_then_403_page_explains(
    client: FlaskClient, key_of: KeyOf
):
    sign_in(client, key_of("ingest"))
    reply = client.get("/")
    assert reply.status_code == 403
    assert reply.mimetype == "text/html"
    assert "needs a key granting read" in reply.get_data(as_text=True)


def test_given_read_key_only_when_opening_rating_form_then_403_until_ingest_key_added(
    client: FlaskClient, key_of: KeyOf
):
    sign_in(client, key_of("read"))
    refused = client.get("/rate")
    assert refused.status_code == 403
    assert "ingest and read" in refused.get_data(as_text=True)
    sign_in(client, key_of("ingest"))
    assert client.get("/rate").status_code == 200
    assert client.get("/").status_code == 200


def test_given_revoked_key_when_session_reused_then_signed_out(
    app: Flask, client: FlaskClient, key_of: KeyOf
):
    sign_in(client, key_of("read"))
    with database(app).session() as session:
        for row in session.scalars(select(ApiKey)):
            row.revoked_at = utcnow()
    assert client.get("/").status_code == 302


def test_given_bearer_read_key_when_fetching_summary_then_served_without_session(
    client: FlaskClient, key_of: KeyOf
):
    reply = client.get(
        "/summary?week=2026-11-16", headers={"Authorization": f"Bearer {key_of('read')}"}
    )
    assert reply.status_code == 200
    assert "Week of 16 Nov 2026" in reply.get_data(as_text=True)
    bad = client.get("/summary", headers={"Authorization": "Bearer cx360_x_y"})
    assert bad.status_code == 401
    assert bad.mimetype == "text/html"


def test_given_signed_in_when_signing_out_then_session_is_gone(client: FlaskClient, key_of: KeyOf):
    sign_in(client, key_of("read"))
    token = csrf_of(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


# -- dashboard figures -----------------------------------------------------------------------


def test_given_sample_data_when_viewing_dashboard_then_nps_and_response_count_are_shown(
    client: FlaskClient, key_of: KeyOf, samples: None
):
    sign_in(client, key_of("read"))
    html = client.get("/", query_string=SAMPLE_RANGE).get_data(as_text=True)
    nps, contacts = expected_sample_nps()
    assert f'data-figure="nps">{nps:+.1f}<' in html
    assert f"{contacts} responses" in html
    assert "Latest detractor comments" in html
    assert "chart.umd.js" in html


def test_given_account_filter_when_viewing_dashboard_then_only_its_figures_count(
    app: Flask, client: FlaskClient, key_of: KeyOf, samples: None
):
    from connector.storage import Account

    with database(app).session() as session:
        account_id = session.scalar(
            select(Account.id).where(Account.domain == "acme-maschinenbau.de")
        )
    sign_in(client, key_of("read"))
    whole = client.get("/", query_string=SAMPLE_RANGE).get_data(as_text=True)
    one = client.get("/", query_string={**SAMPLE_RANGE, "account": account_id})
    html = one.get_data(as_text=True)
    assert one.status_code == 200
    assert f'<option value="{account_id}" selected>' in html
    assert html.count("acme-maschinenbau.de") > 0
    assert "nordlicht-logistik.de ·" not in html  # no other account's comments
    assert whole != html


def test_given_bad_dates_when_viewing_dashboard_then_422_with_message_and_defaults(
    client: FlaskClient, key_of: KeyOf
):
    sign_in(client, key_of("read"))
    reply = client.get("/?from=yesterday&to=2026-11-30")
    assert reply.status_code == 422
    assert "Not a date: &#39;yesterday&#39;" in reply.get_data(as_text=True)


def test_given_comment_with_markup_when_shown_then_escaped(client: FlaskClient, key_of: KeyOf):
    client.post(
        "/api/v1/responses",
        json={"kind": "nps", "score": 2, "email": "x@example.com",
              "answered_at": "2026-03-02T10:00:00Z", "comment": "<script>alert(1)</script>"},
        headers={"Authorization": f"Bearer {key_of('ingest')}"},
    )  # fmt: skip
    sign_in(client, key_of("read"))
    html = client.get("/", query_string=SAMPLE_RANGE).get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html


# -- rating form -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ben hartmann", "ben.hartmann@acme-maschinenbau.de"),
        ("BEN.HARTMANN@ACME", "ben.hartmann@acme-maschinenbau.de"),
        ("nordlicht", "harry.wagner@nordlicht-logistik.de"),
    ],
)
def test_given_sample_data_when_searching_customers_then_matches_name_email_and_account(
    client: FlaskClient, key_of: KeyOf, samples: None, query: str, expected: str
):
    sign_in(client, key_of("admin"))
    html = client.get("/rate", query_string={"q": query}).get_data(as_text=True)
    assert expected in html


def test_given_search_with_wildcards_when_searching_then_they_match_literally(
    client: FlaskClient, key_of: KeyOf, samples: None
):
    sign_in(client, key_of("admin"))
    html = client.get("/rate", query_string={"q": "%"}).get_data(as_text=True)
    assert "result-list" not in html
    assert "No customer matches" in html


def test_given_person_signed_in_when_rating_then_stored_like_api_as_theirs_and_scored(
    app: Flask, client: FlaskClient, key_of: KeyOf, samples: None, idp: SandboxServer
):
    contact = _contact_id(app, "ben.hartmann@acme-maschinenbau.de")
    assert sign_in_as(client, idp, RATER).status_code == 302
    form = client.get(f"/rate?contact={contact}").get_data(as_text=True)
    assert 'name="employee"' not in form and RATER in form  # the rater is the person
    before = client.get(
        "/api/v1/contacts/ben.hartmann@acme-maschinenbau.de/scorecard",
        headers={"Authorization": f"Bearer {key_of('read')}"},
    ).json["metrics"]
    reply = client.post(
        "/rate",
        data={"csrf_token": csrf_of(form), "contact": contact, "relationship": "2",
              "potential": "9", "comment": "Schwierig, aber großes Potenzial.",
              "employee": "someone.else@cx360-demo.example"},  # a typed rater is ignored
    )  # fmt: skip
    assert reply.status_code == 302
    page = client.get(reply.headers["Location"]).get_data(as_text=True)
    assert "your rating is saved" in page or "Bewertung ist gespeichert" in page
    with database(app).session() as session:
        row = session.scalars(select(EmployeeRating).where(EmployeeRating.source == "web")).one()
        assert (row.employee, row.contact_id, row.relationship, row.potential) == (
            RATER, contact, 2, 9
        )  # fmt: skip
        pending = session.scalars(
            select(OutboxItem).where(
                OutboxItem.subject_type == "contact", OutboxItem.subject_id == contact
            )
        ).all()
        assert pending, "the rating must be queued for the push like any other"
    after = client.get(
        "/api/v1/contacts/ben.hartmann@acme-maschinenbau.de/scorecard",
        headers={"Authorization": f"Bearer {key_of('read')}"},
    ).json["metrics"]
    assert after["rnps.raters"] == (before["rnps.raters"] or 0) + 1
    assert f'data-metric="rnps.raters">{after["rnps.raters"]}<' in page


def test_given_api_key_session_when_rating_then_403_and_nothing_stored(
    app: Flask, client: FlaskClient, key_of: KeyOf, samples: None
):
    contact = _contact_id(app, "ben.hartmann@acme-maschinenbau.de")
    sign_in(client, key_of("admin"))
    form = client.get(f"/rate?contact={contact}").get_data(as_text=True)
    assert "Sign in with your company account to rate" in form
    reply = client.post("/rate", data={"csrf_token": csrf_of(form), "contact": contact,
                                       "relationship": "5", "potential": "5"})  # fmt: skip
    assert reply.status_code == 403
    with database(app).session() as session:
        assert (
            session.scalars(select(EmployeeRating).where(EmployeeRating.source == "web")).all()
            == []
        )


@pytest.mark.parametrize("provider", ["salesforce", "hubspot"])
def test_given_user_of_another_org_when_signing_in_then_403_and_not_signed_in(
    client: FlaskClient, idp: SandboxServer, provider: str
):
    refused = sign_in_as(client, idp, OUTSIDER, provider)
    assert refused.status_code == 403
    assert f"{OUTSIDER} may not sign in here" in refused.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still to the login page


@pytest.mark.parametrize("provider", ["salesforce", "hubspot"])
def test_given_people_signed_in_when_viewing_dashboard_then_only_admins_see_sync_health(
    client: FlaskClient, idp: SandboxServer, provider: str
):
    sign_in_as(client, idp, RATER, provider)
    assert "sync-h" not in client.get("/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/").get_data(as_text=True))})
    sign_in_as(client, idp, ADMIN, provider)
    assert 'id="sync-h"' in client.get("/").get_data(as_text=True)


PICK_0_TO_10 = ("Pick a value from 0 to 10.", "Wählen Sie einen Wert von 0 bis 10.")


@pytest.mark.parametrize(
    ("field", "value", "english", "german"),
    [
        ("relationship", "11", "Pick a value from 0 to 10.", "Wählen Sie einen Wert von 0 bis 10."),
        ("potential", "", "Pick a value from 0 to 10.", "Wählen Sie einen Wert von 0 bis 10."),
        (
            "relationship",
            "seven",
            "Pick a value from 0 to 10.",
            "Wählen Sie einen Wert von 0 bis 10.",
        ),
    ],
)
@pytest.mark.parametrize("language", ["en", "de"])
def test_given_invalid_rating_when_submitted_then_422_names_the_field_in_the_page_language(
    app: Flask, client: FlaskClient, samples: None, idp: SandboxServer, field: str, value: str,
    english: str, german: str, language: str,
):  # fmt: skip
    contact = _contact_id(app, "ben.hartmann@acme-maschinenbau.de")
    sign_in_as(client, idp, RATER)
    headers = {"Accept-Language": f"{language};q=1.0"}
    page = client.get(f"/rate?contact={contact}", headers=headers).get_data(as_text=True)
    data = {"csrf_token": csrf_of(page), "contact": str(contact), "relationship": "5",
            "potential": "5", field: value}  # fmt: skip
    reply = client.post("/rate", data=data, headers=headers)
    assert reply.status_code == 422
    html = reply.get_data(as_text=True)
    assert f'id="err-{field}"' in html
    assert (german if language == "de" else english) in html
    assert f'<html lang="{language}">' in html
    with database(app).session() as session:
        stored = session.scalars(select(EmployeeRating).where(EmployeeRating.source == "web")).all()
    assert stored == []


def test_given_rating_post_without_csrf_when_submitted_then_400_and_nothing_stored(
    app: Flask, client: FlaskClient, samples: None, idp: SandboxServer
):
    contact = _contact_id(app, "ben.hartmann@acme-maschinenbau.de")
    sign_in_as(client, idp, RATER)
    reply = client.post(
        "/rate", data={"contact": contact, "relationship": "5", "potential": "5",
                       "employee": "a@cx360-demo.example"},
    )  # fmt: skip
    assert reply.status_code == 400
    with database(app).session() as session:
        assert (
            session.scalars(select(EmployeeRating).where(EmployeeRating.source == "web")).all()
            == []
        )


@pytest.mark.parametrize(
    ("accept", "question"),
    [
        ("de-DE,de;q=0.9", "Wie gern würden Sie einer Kollegin oder einem Kollegen"),
        ("en-GB", "How gladly would you recommend working with this customer"),
    ],
)
def test_given_browser_language_when_opening_rating_form_then_questions_in_that_language(
    app: Flask, client: FlaskClient, samples: None, idp: SandboxServer, accept: str,
    question: str,
):  # fmt: skip
    contact = _contact_id(app, "ben.hartmann@acme-maschinenbau.de")
    sign_in_as(client, idp, RATER)
    html = client.get(f"/rate?contact={contact}", headers={"Accept-Language": accept})
    assert question in html.get_data(as_text=True)


def test_given_unknown_contact_when_opening_rating_form_then_404_html(
    client: FlaskClient, key_of: KeyOf
):
    sign_in(client, key_of("admin"))
    reply = client.get("/rate?contact=999999")
    assert reply.status_code == 404
    assert reply.mimetype == "text/html"


def test_given_sample_data_when_opening_weekly_summary_then_week_figures_and_comments_shown(
    client: FlaskClient, key_of: KeyOf, samples: None
):
    sign_in(client, key_of("read"))
    html = client.get("/summary?week=2026-11-18").get_data(as_text=True)
    assert "Week of 16 Nov 2026 \u2013 22 Nov 2026" in html
    assert 'data-figure="week-nps">' in html
    assert "What customers praise" in html


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"CX360_SSO_PROVIDERS": "okta"}, "CX360_SSO_PROVIDERS: unknown provider(s) okta"),
        ({"CX360_SSO_PROVIDERS": "salesforce"}, "CX360_SSO_SALESFORCE_CLIENT_ID"),
        (
            {
                "CX360_SSO_PROVIDERS": "oidc",
                "CX360_OIDC_CLIENT_ID": "x",
                "CX360_OIDC_CLIENT_SECRET": "y",
            },
            "CX360_OIDC_DISCOVERY_URL",
        ),
    ],
)
def test_given_sign_in_provider_without_its_settings_when_starting_then_error_names_them(
    tmp_path: Path, settings: dict[str, str], named: str
):
    with pytest.raises(ConfigError, match=re.escape(named)):
        create_app({"CX360_INSTANCE_PATH": str(tmp_path), "CX360_SECRET_KEY": "x", **settings})


_WEEK_ROW = re.compile(
    r'<tr><th scope="row">([^<]+)</th><td>([^<]+)</td><td>[^<]+</td><td>(\d+)</td></tr>'
)


def test_given_range_starting_mid_week_when_shown_then_dashboard_summary_and_api_agree(
    client: FlaskClient, key_of: KeyOf, samples: None
):
    """Wed 2 Sep - Sun 22 Nov 2026: every week has one value, labelled with its Monday."""
    read = key_of("read")
    sign_in(client, read)
    html = client.get("/", query_string={"from": "2026-09-02", "to": "2026-11-22"})
    rows = _WEEK_ROW.findall(html.get_data(as_text=True))
    api = client.get(
        "/api/v1/stats/nps",
        query_string={"from": "2026-09-02T00:00:00Z", "to": "2026-11-22T23:59:59.999999Z",
                      "interval": "week"},
        headers={"Authorization": f"Bearer {read}"},
    ).json  # fmt: skip
    buckets = api["buckets"]
    assert buckets[0]["start"].startswith("2026-08-31")  # the first week's Monday
    assert rows[0][0] == "31 Aug 2026"
    shown = [(label, score, int(n)) for label, score, n in rows]
    expected = [
        (date.fromisoformat(b["start"][:10]).strftime("%-d %b %Y"),  # the English day
         "\u2013" if b["nps"] is None else f"{b['nps']:+.1f}" if b["nps"] else "0.0", b["n"])
        for b in buckets
    ]  # fmt: skip
    assert shown == expected
    assert sum(b["n"] for b in buckets) > 10  # the sample data has answers in these weeks
    # The weekly summary of the first week shows the same week's figures.
    summary = client.get("/summary", query_string={"week": "2026-09-02"}).get_data(as_text=True)
    first = buckets[0]
    assert f'data-figure="week-nps">{first["nps"]:+.1f}<' in summary
    assert f"{first['n']} responses" in summary or f"{first['n']} response" in summary


@pytest.mark.parametrize(
    ("query", "message"),
    [
        # once a 500: the week before 0001-01-01 is outside Python's dates
        ("from=0001-01-01&to=2026-11-30", "Not between 1900-01-01 and 9000-01-01: 0001-01-01."),
        ("from=2026-11-01&to=9999-12-31", "Not between 1900-01-01 and 9000-01-01: 9999-12-31."),
        # 30 years a week per bar: the latest 1,000 weeks, said so
        ("from=1996-01-01&to=2026-11-30", "At most 1000 weeks at once: showing the last 1000."),
    ],
)
def test_given_a_range_the_trend_cannot_show_when_viewing_dashboard_then_422_says_why(
    client: FlaskClient, key_of: KeyOf, query: str, message: str
):
    sign_in(client, key_of("read"))
    reply = client.get(f"/?{query}")
    assert reply.status_code == 422
    assert message in reply.get_data(as_text=True)
