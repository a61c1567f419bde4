"""Configuration from the environment (and an optional ``.env``).

The environment variable names are the configuration keys everywhere: Flask's ``app.config``,
the Celery app and the CLI read the same ``CX360_*`` / ``HUBSPOT_*`` / ``SALESFORCE_*`` names,
so a value means one thing wherever it is used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from connector.config_checks import SettingProblem, check_settings


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    parse: type = str
    secret: bool = False
    help: str = ""


def _bool(value: str) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "CX360_INSTANCE_PATH",
        "instance",
        help="Folder for the SQLite database, the embedded broker and other local state.",
    ),
    Setting(
        "CX360_DATABASE_URL",
        "",
        help="SQLAlchemy URL; default SQLite under the instance "
        "folder. Production: postgresql+psycopg://user@host/db",
    ),
    Setting(
        "CX360_BROKER_URL",
        "",
        help="Celery broker URL (redis://..., amqp://...); empty "
        "means the embedded Redis under the instance folder.",
    ),
    Setting(
        "CX360_SECRET_KEY",
        "",
        secret=True,
        help="Signs sessions and CSRF tokens and "
        "encrypts stored CRM secrets; generated into the instance folder when empty.",
    ),
    Setting(
        "CX360_SECURE_COOKIES",
        False,
        bool,
        help="Send the web pages' session cookie only over HTTPS (turn on in production).",
    ),
    # Signing people in to the pages (connector/web/sso.py)
    Setting(
        "CX360_SSO_PROVIDERS",
        "",
        help="Sign-in for the pages: salesforce, hubspot and/or oidc, comma-separated; "
        "empty: API keys only.",
    ),
    Setting(
        "CX360_SSO_ALLOWED_DOMAINS",
        "",
        help="Email domains whose users may sign in (comma-separated), besides the users "
        "of the connected org/portal.",
    ),
    Setting("CX360_SSO_ADMIN_EMAILS", "", help="Emails of admins (comma-separated)."),
    Setting("CX360_SSO_ADMIN_GROUPS", "", help="Provider groups whose members are admins (OIDC)."),
    Setting(
        "CX360_SSO_SALESFORCE_LOGIN_URL",
        "https://login.salesforce.com",
        help="Salesforce login or My Domain URL (OpenID Connect discovery).",
    ),
    Setting("CX360_SSO_SALESFORCE_CLIENT_ID", "", help="Connected app consumer key (sign-in)."),
    Setting(
        "CX360_SSO_SALESFORCE_CLIENT_SECRET",
        "",
        secret=True,
        help="Connected app consumer secret (sign-in).",
    ),
    Setting(
        "CX360_SSO_SALESFORCE_ORG_ID",
        "",
        help="Users of this Salesforce org (00D...) may sign in.",
    ),
    Setting(
        "CX360_SSO_HUBSPOT_AUTHORIZE_URL",
        "https://app.hubspot.com/oauth/authorize",
        help="HubSpot's OAuth authorization page.",
    ),
    Setting("CX360_SSO_HUBSPOT_CLIENT_ID", "", help="HubSpot app client id (sign-in)."),
    Setting("CX360_SSO_HUBSPOT_CLIENT_SECRET", "", secret=True, help="HubSpot app client secret."),
    Setting(
        "CX360_SSO_HUBSPOT_PORTAL_ID", "", help="Users of this HubSpot portal (hub id) may sign in."
    ),
    Setting(
        "CX360_OIDC_DISCOVERY_URL",
        "",
        help="Another OpenID Connect provider: its .well-known/openid-configuration URL.",
    ),
    Setting("CX360_OIDC_CLIENT_ID", "", help="OpenID Connect client id."),
    Setting("CX360_OIDC_CLIENT_SECRET", "", secret=True, help="OpenID Connect client secret."),
    Setting("CX360_OIDC_NAME", "", help="The provider's name on the sign-in button (e.g. Okta)."),
    Setting("CX360_CRM", "", help="hubspot or salesforce"),
    Setting(
        "CX360_CRM_CA_BUNDLE",
        "",
        help="Extra CA bundle to trust for CRM HTTPS (e.g. the sandbox CRM's CA).",
    ),
    Setting(
        "CX360_MAPPINGS_DIR",
        "",
        help="Folder with salesforce.yaml and hubspot.yaml; "
        "default: the mappings shipped with cx360.",
    ),
    # Sync pipeline
    Setting(
        "CX360_REDIS_URL",
        "",
        help="Redis for the shared CRM request budget; default the broker when it is Redis, "
        "else the embedded one.",
    ),
    Setting(
        "CX360_CRM_RATE_LIMIT",
        "",
        help="Requests all workers together may send to the CRM, e.g. '190 per 10 seconds'; "
        "default HubSpot 190 per 10 seconds, Salesforce '20 per second; 5000 per day'.",
    ),
    Setting(
        "CX360_COALESCE_SECONDS",
        1.0,
        float,
        help="Changes to a record within this many seconds are pushed together.",
    ),
    Setting(
        "CX360_OUTBOX_LEASE_SECONDS",
        300,
        int,
        help="A claimed change not pushed within this time is claimed again (lost tasks).",
    ),
    Setting(
        "CX360_RELAY_INTERVAL_SECONDS",
        10.0,
        float,
        help="How often the relay looks for changes not yet pushed (worker's beat).",
    ),
    Setting(
        "CX360_LOG_FORMAT",
        "text",
        help="Log lines as text or json (one JSON object per line), with request_id, task_id "
        "and sync_run_id where known.",
    ),
    Setting(
        "CX360_WORKER_METRICS_BIND",
        "",
        help="host:port where `cx360 worker` serves its Prometheus metrics (CRM calls, "
        "retries, records, sync runs, push lag) for all its processes; empty: not served.",
    ),
    Setting(
        "CX360_RELAY_STALE_SECONDS",
        60.0,
        float,
        help="Readiness (/readyz, cx360 status) fails when the outbox relay has not run for "
        "this long (beat down); at least two relay intervals.",
    ),
    Setting(
        "CX360_SYNC_RUN_LEASE_SECONDS",
        60.0,
        float,
        help="A running sync run whose worker gave no sign of life for this long (killed) is "
        "closed as failed; the worker renews it every quarter of this.",
    ),
    Setting("CX360_PUSH_CHUNK", 1000, int, help="Most contacts one push task handles."),
    Setting(
        "CX360_REVENUE_REFRESH_HOURS",
        24.0,
        float,
        help="How often the worker's beat reads the accounts' revenue from the CRM "
        "(0: only on demand, cx360 revenue refresh).",
    ),
    Setting("CX360_MAX_BODY_BYTES", 1024 * 1024, int, help="Largest request body accepted."),
    Setting("CX360_MAX_BATCH", 1000, int, help="Most responses in one POST /api/v1/responses."),
    Setting(
        "CX360_API_KEY_CACHE_SECONDS",
        10.0,
        float,
        help="How long a server process trusts a key it checked; a revoked key stops working "
        "within this time (0: check every request).",
    ),
    # Scoring (DESIGN.md: thresholds are configuration, not code)
    Setting(
        "CX360_WINDOW_DAYS",
        365,
        int,
        help="Window for population NPS, CSAT % and account roll-ups.",
    ),
    Setting("CX360_CSAT_SCALE", 5, int, help="Highest CSAT rating (ratings are 1..scale)."),
    Setting("CX360_CSAT_SATISFIED_MIN", 4, int, help="Lowest CSAT rating counted as satisfied."),
    Setting(
        "CX360_SEGMENT_POTENTIAL_MIN",
        7.0,
        float,
        help="rnps.potential_avg at or above this counts as high potential (untapped, nurture).",
    ),
    Setting(
        "CX360_TIMEZONE",
        "UTC",
        help="The business's time zone (IANA name, e.g. Europe/Berlin): the calendar of the "
        "*.date metrics, of dashboard weeks and of date-only imports.",
    ),
    # Survey-tool webhooks (secrets comma-separated: old and new accepted while rotating)
    Setting(
        "CX360_TYPEFORM_SECRETS",
        "",
        secret=True,
        help="Secret(s) of the Typeform webhook (the 'secret' set on the form's webhook).",
    ),
    Setting(
        "CX360_DELIGHTED_SECRETS",
        "",
        secret=True,
        help="Delighted private API key(s); Delighted signs webhooks with the API key.",
    ),
    Setting(
        "CX360_WEBHOOK_SECRETS",
        "",
        secret=True,
        help="Standard Webhooks secret(s) (whsec_<base64>) for POST /webhooks/generic.",
    ),
    Setting(
        "CX360_TYPEFORM_SCORE_REF",
        "",
        help="Ref of the Typeform question with the score; empty: the form's only NPS or "
        "opinion-scale question.",
    ),
    Setting(
        "CX360_TYPEFORM_COMMENT_REF",
        "",
        help="Ref of the Typeform text question stored as the comment (empty: no comment).",
    ),
    Setting(
        "CX360_TYPEFORM_EMAIL_HIDDEN_FIELD",
        "",
        help="Typeform hidden field with the respondent's email, used when the form has no "
        "email question.",
    ),
    Setting("CX360_TYPEFORM_KIND", "nps", help="nps or csat: what the Typeform score measures."),
    # HubSpot
    Setting("HUBSPOT_ACCESS_TOKEN", "", secret=True, help="Private-app access token."),
    Setting(
        "HUBSPOT_REFRESH_TOKEN",
        "",
        secret=True,
        help="OAuth refresh token (instead of a private-app token).",
    ),
    Setting("HUBSPOT_CLIENT_ID", "", help="OAuth app client id (with a refresh token)."),
    Setting("HUBSPOT_CLIENT_SECRET", "", secret=True, help="OAuth app client secret."),
    Setting("HUBSPOT_BASE_URL", "https://api.hubapi.com", help="API base URL."),
    # Salesforce
    Setting("SALESFORCE_INSTANCE_URL", "", help="https://yourorg.my.salesforce.com"),
    Setting(
        "SALESFORCE_TOKEN_URL",
        "",
        help="OAuth token URL; default SALESFORCE_INSTANCE_URL + /services/oauth2/token",
    ),
    Setting("SALESFORCE_AUTH", "jwt", help="jwt (JWT bearer) or client_credentials"),
    Setting("SALESFORCE_CLIENT_ID", "", help="Connected app consumer key."),
    Setting(
        "SALESFORCE_CLIENT_SECRET",
        "",
        secret=True,
        help="Connected app consumer secret (client credentials flow).",
    ),
    Setting("SALESFORCE_USERNAME", "", help="Integration user (JWT bearer flow)."),
    Setting(
        "SALESFORCE_PRIVATE_KEY_FILE",
        "",
        help="PEM private key of the connected app's certificate (JWT bearer flow).",
    ),
    Setting(
        "SALESFORCE_AUDIENCE",
        "https://login.salesforce.com",
        help="JWT audience: "
        "https://login.salesforce.com, https://test.salesforce.com or your My Domain.",
    ),
    Setting("SALESFORCE_API_VERSION", "59.0", help="REST API version."),
    Setting(
        "SALESFORCE_BULK_THRESHOLD",
        2000,
        int,
        help="Writes of more records than this go through Bulk API 2.0 instead of "
        "sObject Collections.",
    ),
)

LOG_FORMATS = ("text", "json")  # CX360_LOG_FORMAT
SECRET_KEYS = frozenset(s.name for s in SETTINGS if s.secret)


class ConfigError(ValueError):
    """A configuration value cannot be used; the message names the variable."""


def _secret_from_file(name: str, path: str | None) -> str | None:
    """A secret from the file ``NAME_FILE`` names (Docker and Kubernetes secrets, systemd
    credentials): its content without the trailing newline."""
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(f"{name}_FILE={path!r}: cannot read it ({exc.strerror})") from exc


def business_zone(name: str, setting: str = "CX360_TIMEZONE") -> ZoneInfo:
    """The IANA time zone ``name``; a ``ConfigError`` naming ``setting`` when there is none."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"{setting}={name!r}: expected an IANA time zone name such as UTC or Europe/Berlin"
        ) from exc


def load_config(
    environ: Mapping[str, str] | None = None, dotenv_path: str | os.PathLike[str] | None = ".env"
) -> dict[str, Any]:
    """Read every known setting from ``environ`` (default ``os.environ``) over ``.env``."""
    source: dict[str, Any] = {}
    if dotenv_path and Path(dotenv_path).is_file():
        source.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    source.update(os.environ if environ is None else environ)
    config: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = source.get(setting.name)
        if (raw is None or raw == "") and setting.secret:
            raw = _secret_from_file(setting.name, source.get(f"{setting.name}_FILE"))
        if raw is None or raw == "":
            config[setting.name] = setting.default
            continue
        try:
            config[setting.name] = _bool(raw) if setting.parse is bool else setting.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{setting.name}={raw!r}: expected {setting.parse.__name__}") from exc
    return finish_config(config)


def finish_config(config: dict[str, Any]) -> dict[str, Any]:
    """Fill the values derived from others (database under the instance folder, ...)."""
    instance = Path(config.get("CX360_INSTANCE_PATH") or "instance").resolve()
    config["CX360_INSTANCE_PATH"] = str(instance)
    if not config.get("CX360_DATABASE_URL"):
        config["CX360_DATABASE_URL"] = f"sqlite:///{instance / 'cx360.db'}"
    crm = (config.get("CX360_CRM") or "").strip().lower()
    if crm not in {"", "hubspot", "salesforce"}:
        raise ConfigError(f"CX360_CRM={crm!r}: expected hubspot or salesforce")
    config["CX360_CRM"] = crm
    typeform_kind = str(config.get("CX360_TYPEFORM_KIND") or "nps").strip().lower()
    if typeform_kind not in {"nps", "csat"}:
        raise ConfigError(f"CX360_TYPEFORM_KIND={typeform_kind!r}: expected nps or csat")
    config["CX360_TYPEFORM_KIND"] = typeform_kind
    log_format = str(config.get("CX360_LOG_FORMAT") or "text").strip().lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"CX360_LOG_FORMAT={log_format!r}: expected text or json")
    config["CX360_LOG_FORMAT"] = log_format
    metrics_bind = str(config.get("CX360_WORKER_METRICS_BIND") or "").strip()
    if metrics_bind:
        host_and_port(metrics_bind, "CX360_WORKER_METRICS_BIND")
    config["CX360_WORKER_METRICS_BIND"] = metrics_bind
    config["CX360_TIMEZONE"] = business_zone(str(config.get("CX360_TIMEZONE") or "UTC")).key
    try:
        check_settings(config)
    except SettingProblem as exc:
        raise ConfigError(str(exc)) from exc
    return config


def host_and_port(value: str, setting: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:port`` for IPv6) split, or a ConfigError naming ``setting``."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{setting}={value!r}: expected host:port, e.g. 0.0.0.0:9360")
    return host, int(port)


def redacted(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy safe to print or log: secrets shown only as set / not set."""
    return {k: ("***" if v else "") if k in SECRET_KEYS else v for k, v in config.items()}
