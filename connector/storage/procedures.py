"""PostgreSQL functions that store one response or rating in a single statement.

Most ingest traffic is one item per request (a survey tool's webhook, an integrator's POST).
Stored through ``connector.ingest``'s set-based path, one item costs six statements: find the
account, find the contact, find a resend, upsert, outbox, and the creates or key updates in
between, each a round trip with its share of SQLAlchemy and psycopg work. These functions do
the same steps for one item inside the database, so the request sends one statement.

They implement exactly the single-item case of ``connector.ingest.store_responses`` /
``store_ratings``: the same account and contact resolution (a CRM id before a domain or
email, a key learned fills an empty one, a contact follows the account its latest item
names), the same upsert on ``(source, external_id)`` with created / updated / unchanged, and
the same outbox rows. ``tests/storage/test_single_item_procedures.py`` runs random item
sequences through both and compares every table. A race on a unique key raises a unique
violation as the Python path does, and ``commit_with_retry`` runs the call again.

Batches keep the set-based path (a batch has in-call semantics, e.g. the last resend of a key
wins). SQLite has no stored functions and needs none: there a statement costs microseconds.

Changing a function: edit it here and add a migration that calls ``install`` again
(``CREATE OR REPLACE`` keeps the name).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from connector.storage.models import utc_for_storage

if TYPE_CHECKING:
    from connector.storage.db import Database

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION cx360_account_for(p_crm_id text, p_domain text, p_now timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_id integer;
    v_crm text;
    v_domain text;
    v_domain_owner integer;  -- the account that has p_domain already, if any
BEGIN
    p_crm_id := NULLIF(p_crm_id, '');
    p_domain := NULLIF(p_domain, '');
    IF p_crm_id IS NULL AND p_domain IS NULL THEN
        RETURN NULL;
    END IF;
    IF p_crm_id IS NOT NULL THEN
        SELECT a.id, a.crm_id, a.domain INTO v_id, v_crm, v_domain
        FROM accounts a WHERE a.crm_id = p_crm_id;
    END IF;
    IF p_domain IS NOT NULL THEN
        SELECT a.id INTO v_domain_owner FROM accounts a WHERE a.domain = p_domain;
        IF v_id IS NULL AND v_domain_owner IS NOT NULL THEN
            SELECT a.id, a.crm_id, a.domain INTO v_id, v_crm, v_domain
            FROM accounts a WHERE a.id = v_domain_owner;
        END IF;
    END IF;
    IF v_id IS NULL THEN
        INSERT INTO accounts (crm_id, domain, created_at, updated_at)
        VALUES (p_crm_id, p_domain, p_now, p_now) RETURNING id INTO v_id;
        RETURN v_id;
    END IF;
    -- A key learned fills the account's empty one (a domain only while no account has it).
    IF (p_crm_id IS NOT NULL AND v_crm IS NULL)
       OR (p_domain IS NOT NULL AND v_domain IS NULL AND v_domain_owner IS NULL) THEN
        UPDATE accounts a
        SET crm_id = COALESCE(a.crm_id, p_crm_id),
            domain = CASE WHEN v_domain_owner IS NULL THEN COALESCE(a.domain, p_domain)
                          ELSE a.domain END,
            updated_at = p_now
        WHERE a.id = v_id;
    END IF;
    RETURN v_id;
END $$;

CREATE OR REPLACE FUNCTION cx360_contact_for(
    p_crm_id text, p_email text, p_account integer, p_now timestamptz,
    OUT o_contact integer, OUT o_account integer
) LANGUAGE plpgsql AS $$
DECLARE
    v_by_crm integer;
    v_by_email integer;
    v_stored_account integer;
BEGIN
    p_crm_id := NULLIF(p_crm_id, '');
    p_email := NULLIF(p_email, '');
    IF p_crm_id IS NULL AND p_email IS NULL THEN
        RETURN;
    END IF;
    IF p_crm_id IS NOT NULL THEN
        SELECT c.id INTO v_by_crm FROM contacts c WHERE c.crm_id = p_crm_id;
    END IF;
    IF p_email IS NOT NULL THEN
        SELECT c.id INTO v_by_email FROM contacts c WHERE c.email = p_email;
    END IF;
    o_contact := COALESCE(v_by_crm, v_by_email);
    IF o_contact IS NULL THEN
        INSERT INTO contacts (crm_id, email, account_id, created_at, updated_at)
        VALUES (p_crm_id, p_email, p_account, p_now, p_now) RETURNING id INTO o_contact;
        o_account := p_account;
        RETURN;
    END IF;
    SELECT c.account_id INTO v_stored_account FROM contacts c WHERE c.id = o_contact;
    -- The contact follows the account its latest item names; a key no contact has is learned.
    o_account := COALESCE(p_account, v_stored_account);
    IF (p_crm_id IS NOT NULL AND v_by_crm IS NULL)
       OR (p_email IS NOT NULL AND v_by_email IS NULL)
       OR o_account IS DISTINCT FROM v_stored_account THEN
        UPDATE contacts c
        SET crm_id = CASE WHEN p_crm_id IS NOT NULL AND v_by_crm IS NULL THEN p_crm_id
                          ELSE c.crm_id END,
            email = CASE WHEN p_email IS NOT NULL AND v_by_email IS NULL THEN p_email
                         ELSE c.email END,
            account_id = o_account,
            updated_at = p_now
        WHERE c.id = o_contact;
    END IF;
END $$;

-- Also the batch path's outbox (connector.ingest.write_outbox): two integer arrays travel and
-- parse faster than one JSON row per subject. PL/pgSQL, not SQL: a SQL function that cannot
-- be inlined is planned again on every call, which cost 0.29 ms of a 0.68 ms single-item
-- store; PL/pgSQL keeps the plan for the session.
CREATE OR REPLACE FUNCTION cx360_write_outbox(
    p_contacts integer[], p_accounts integer[], p_now timestamptz, p_reason text DEFAULT 'ingest'
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox (subject_type, subject_id, reason, created_at, available_at, attempts)
    SELECT subject_type, subject_id, p_reason, p_now, p_now, 0
    FROM (
        SELECT DISTINCT 'contact' AS subject_type, 1 AS rank, id AS subject_id
        FROM unnest(p_contacts) AS id WHERE id IS NOT NULL
        UNION
        SELECT DISTINCT 'account', 2, id FROM unnest(p_accounts) AS id WHERE id IS NOT NULL
    ) subjects
    ORDER BY rank, subject_id;
END $$;

CREATE OR REPLACE FUNCTION cx360_subjects_for(
    p_item jsonb, p_now timestamptz,
    OUT o_account integer, OUT o_contact integer, OUT o_contact_account integer
) LANGUAGE plpgsql AS $$
BEGIN
    o_account := cx360_account_for(p_item->>'account_crm_id', p_item->>'account_domain', p_now);
    SELECT c.o_contact, c.o_account INTO o_contact, o_contact_account
    FROM cx360_contact_for(p_item->>'crm_id', p_item->>'email', o_account, p_now) c;
END $$;

-- The outbox rows of every subject touched, and the call's answer.
CREATE OR REPLACE FUNCTION cx360_stored(
    p_outcome text, p_id integer, p_contacts integer[], p_accounts integer[], p_now timestamptz
) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM cx360_write_outbox(p_contacts, p_accounts, p_now);
    RETURN jsonb_build_object(
        'outcome', p_outcome, 'id', p_id,
        'contact_ids', array_remove(p_contacts, NULL), 'account_ids', array_remove(p_accounts, NULL)
    );
END $$;

CREATE OR REPLACE FUNCTION cx360_store_response(p_item jsonb, p_now timestamptz)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_account integer;
    v_contact integer;
    v_contact_account integer;
    v_source text := COALESCE(NULLIF(p_item->>'source', ''), 'api');
    v_external_id text := NULLIF(p_item->>'external_id', '');
    v_kind text := p_item->>'kind';
    v_score integer := (p_item->>'score')::integer;
    v_comment text := p_item->>'comment';
    v_touchpoint text := p_item->>'touchpoint';
    v_channel text := p_item->>'channel';
    v_answered_at timestamptz := COALESCE((p_item->>'answered_at')::timestamptz, p_now);
    v_old record;
    v_id integer;
    v_outcome text := 'created';
    v_contacts integer[] := '{}';
    v_accounts integer[] := '{}';
BEGIN
    SELECT * INTO v_account, v_contact, v_contact_account FROM cx360_subjects_for(p_item, p_now);
    IF v_external_id IS NOT NULL THEN
        SELECT r.id, r.kind, r.score, r.comment, r.contact_id, r.account_id, r.touchpoint,
               r.channel, r.answered_at, c.account_id AS contact_account_id
        INTO v_old
        FROM responses r LEFT JOIN contacts c ON c.id = r.contact_id
        WHERE r.source = v_source AND r.external_id = v_external_id;
        IF FOUND THEN
            -- A resend's previous contact and account are touched too.
            v_contacts := v_contacts || v_old.contact_id;
            v_accounts := v_accounts || v_old.account_id || v_old.contact_account_id;
            IF ROW(v_old.kind, v_old.score, v_old.comment, v_old.contact_id, v_old.account_id,
                   v_old.touchpoint, v_old.channel, v_old.answered_at)
               IS NOT DISTINCT FROM
               ROW(v_kind, v_score, v_comment, v_contact, v_account, v_touchpoint, v_channel,
                   v_answered_at) THEN
                v_outcome := 'unchanged';
                v_id := v_old.id;
            ELSE
                v_outcome := 'updated';
            END IF;
        END IF;
    END IF;
    IF v_outcome <> 'unchanged' THEN
        INSERT INTO responses (source, external_id, kind, score, comment, contact_id, account_id,
                               touchpoint, channel, answered_at, received_at, updated_at)
        VALUES (v_source, v_external_id, v_kind, v_score, v_comment, v_contact, v_account,
                v_touchpoint, v_channel, v_answered_at, p_now, p_now)
        ON CONFLICT (source, external_id) DO UPDATE
        SET kind = EXCLUDED.kind, score = EXCLUDED.score, comment = EXCLUDED.comment,
            contact_id = EXCLUDED.contact_id, account_id = EXCLUDED.account_id,
            touchpoint = EXCLUDED.touchpoint, channel = EXCLUDED.channel,
            answered_at = EXCLUDED.answered_at, updated_at = EXCLUDED.updated_at
        RETURNING id INTO v_id;
    END IF;
    RETURN cx360_stored(v_outcome, v_id, v_contacts || v_contact,
                        v_accounts || v_account || v_contact_account, p_now);
END $$;

CREATE OR REPLACE FUNCTION cx360_store_rating(p_item jsonb, p_now timestamptz)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_account integer;
    v_rated_account integer;  -- the account rated: only when no contact is named
    v_contact integer;
    v_contact_account integer;
    v_source text := COALESCE(NULLIF(p_item->>'source', ''), 'api');
    v_external_id text := NULLIF(p_item->>'external_id', '');
    v_employee text := p_item->>'employee';
    v_relationship integer := (p_item->>'relationship')::integer;
    v_potential integer := (p_item->>'potential')::integer;
    v_comment text := p_item->>'comment';
    v_rated_at timestamptz := COALESCE((p_item->>'rated_at')::timestamptz, p_now);
    v_old record;
    v_id integer;
    v_outcome text := 'created';
    v_contacts integer[] := '{}';
    v_accounts integer[] := '{}';
BEGIN
    SELECT * INTO v_account, v_contact, v_contact_account FROM cx360_subjects_for(p_item, p_now);
    v_rated_account := CASE WHEN v_contact IS NULL THEN v_account END;
    IF v_external_id IS NOT NULL THEN
        SELECT r.id, r.employee, r.contact_id, r.account_id, r.relationship, r.potential,
               r.comment, r.rated_at, c.account_id AS contact_account_id
        INTO v_old
        FROM employee_ratings r LEFT JOIN contacts c ON c.id = r.contact_id
        WHERE r.source = v_source AND r.external_id = v_external_id;
        IF FOUND THEN
            v_contacts := v_contacts || v_old.contact_id;
            v_accounts := v_accounts || v_old.account_id || v_old.contact_account_id;
            IF ROW(v_old.employee, v_old.contact_id, v_old.account_id, v_old.relationship,
                   v_old.potential, v_old.comment, v_old.rated_at)
               IS NOT DISTINCT FROM
               ROW(v_employee, v_contact, v_rated_account, v_relationship, v_potential,
                   v_comment, v_rated_at) THEN
                v_outcome := 'unchanged';
                v_id := v_old.id;
            ELSE
                v_outcome := 'updated';
            END IF;
        END IF;
    END IF;
    IF v_outcome <> 'unchanged' THEN
        INSERT INTO employee_ratings (source, external_id, employee, contact_id, account_id,
                                      relationship, potential, comment, rated_at, received_at,
                                      updated_at)
        VALUES (v_source, v_external_id, v_employee, v_contact, v_rated_account, v_relationship,
                v_potential, v_comment, v_rated_at, p_now, p_now)
        ON CONFLICT (source, external_id) DO UPDATE
        SET employee = EXCLUDED.employee, contact_id = EXCLUDED.contact_id,
            account_id = EXCLUDED.account_id, relationship = EXCLUDED.relationship,
            potential = EXCLUDED.potential, comment = EXCLUDED.comment,
            rated_at = EXCLUDED.rated_at, updated_at = EXCLUDED.updated_at
        RETURNING id INTO v_id;
    END IF;
    RETURN cx360_stored(v_outcome, v_id, v_contacts || v_contact,
                        v_accounts || v_account || v_contact_account, p_now);
END $$;
"""

DROP = """
DROP FUNCTION IF EXISTS cx360_store_rating(jsonb, timestamptz);
DROP FUNCTION IF EXISTS cx360_store_response(jsonb, timestamptz);
DROP FUNCTION IF EXISTS cx360_stored(text, integer, integer[], integer[], timestamptz);
DROP FUNCTION IF EXISTS cx360_subjects_for(jsonb, timestamptz);
DROP FUNCTION IF EXISTS cx360_write_outbox(integer[], integer[], timestamptz, text);
DROP FUNCTION IF EXISTS cx360_contact_for(text, text, integer, timestamptz);
DROP FUNCTION IF EXISTS cx360_account_for(text, text, timestamptz);
"""

# item kind -> the function that stores one of it
STORE_FUNCTIONS = {"response": "cx360_store_response", "rating": "cx360_store_rating"}
_CALLS = {
    kind: text(f"SELECT {name}(CAST(:item AS jsonb), :now)")
    for kind, name in STORE_FUNCTIONS.items()
}
# the same calls with the driver's placeholders (``Database.scalar_committed``)
_DRIVER_CALLS = {
    kind: f"SELECT {name}(CAST(%s AS jsonb), %s)" for kind, name in STORE_FUNCTIONS.items()
}


WRITE_OUTBOX = text(
    "SELECT cx360_write_outbox(CAST(:contacts AS integer[]), CAST(:accounts AS integer[]), "
    ":now, :reason)"
)


def install(connection: Connection) -> None:
    """Create or replace the functions (PostgreSQL only; a no-op elsewhere)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(FUNCTIONS)


def uninstall(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(DROP)


def _json_value(value: Any) -> str:
    if isinstance(value, datetime):
        return utc_for_storage(value).isoformat()  # naive is refused, as on the bulk path
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def store_one(
    bind: Session | Connection, kind: str, item: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """Store one loaded item (``ResponseIn``/``RatingIn`` dict) with its outbox rows.

    Returns ``{"outcome", "id", "contact_ids", "account_ids"}``: what happened and the
    subjects it touched, as ``connector.ingest.IngestResult`` counts them.
    """
    result: dict[str, Any] = bind.execute(
        _CALLS[kind], {"item": _payload(item), "now": now}
    ).scalar_one()
    return result


def store_one_committed(
    database: Database, kind: str, item: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """``store_one`` as a statement that commits itself (``Database.scalar_committed``)."""
    result: dict[str, Any] = database.scalar_committed(_DRIVER_CALLS[kind], (_payload(item), now))
    return result


def _payload(item: Mapping[str, Any]) -> str:
    return json.dumps(item, default=_json_value, separators=(",", ":"))
