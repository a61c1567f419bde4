"""Settings checked before anything connects: each problem names the setting to fix.

Called from :func:`connector.config.finish_config`, so every command (and the web app) refuses
a CA bundle that is missing or not PEM, a CRM URL on http:// or with a path, and a database
URL whose scheme SQLAlchemy cannot load, with one message instead of a traceback from deep
inside requests or SQLAlchemy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: Heroku-style ``postgres://`` URLs name the same database; SQLAlchemy 1.4 dropped that
#: alias and loads only ``postgresql://`` (a NoSuchModuleError traceback otherwise).
_SCHEME_ALIASES = {"postgres": "postgresql"}
_SUPPORTED_SCHEMES = ("postgresql", "sqlite")
_PEM_CERTIFICATE_MARKER = b"-----BEGIN CERTIFICATE-----"
#: CRM URL settings, and whether a path is part of the value (the token URL's is; the API base
#: URLs are a scheme and host only, the client libraries add the API paths themselves).
_CRM_URLS = {
    "HUBSPOT_BASE_URL": False,
    "SALESFORCE_INSTANCE_URL": False,
    "SALESFORCE_TOKEN_URL": True,
}


class SettingProblem(ValueError):
    """A setting that cannot work; the message starts with the setting's name."""


def database_url_checked(url: str) -> str:
    """``url`` with ``postgres://`` rewritten to ``postgresql://``; other schemes explained."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        raise SettingProblem(
            "CX360_DATABASE_URL: not a URL (expected postgresql://user:password@host/db)"
        )
    dialect = scheme.split("+", 1)[0].lower()
    dialect = _SCHEME_ALIASES.get(dialect, dialect)
    if dialect not in _SUPPORTED_SCHEMES:
        raise SettingProblem(
            f"CX360_DATABASE_URL: scheme {scheme!r} is not supported "
            f"(expected postgresql:// or sqlite:///)"
        )
    driver = scheme.partition("+")[2]
    return f"{dialect}{'+' + driver if driver else ''}://{rest}"


def ca_bundle_problem(path: str) -> str | None:
    """Why the file at ``path`` cannot serve as CX360_CRM_CA_BUNDLE, or None when it can."""
    bundle = Path(path)
    if not bundle.exists():
        return f"CX360_CRM_CA_BUNDLE={path}: no such file"
    if not bundle.is_file():
        return f"CX360_CRM_CA_BUNDLE={path}: not a file"
    try:
        content = bundle.read_bytes()
    except OSError as exc:
        return f"CX360_CRM_CA_BUNDLE={path}: cannot read it ({exc.strerror})"
    if _PEM_CERTIFICATE_MARKER not in content:
        return f"CX360_CRM_CA_BUNDLE={path}: not a PEM certificate bundle (no BEGIN CERTIFICATE)"
    return None


def crm_url_problem(name: str, url: str, *, path_allowed: bool) -> str | None:
    """Why ``url`` cannot serve as the CRM URL setting ``name``, or None when it can."""
    parts = urlsplit(url)
    if parts.scheme == "http":
        return f"{name}={url}: http:// is not allowed, the CRM APIs are served over https://"
    if parts.scheme != "https" or not parts.hostname:
        return f"{name}={url}: expected an https:// URL with a host name"
    if not path_allowed and parts.path.strip("/"):
        return (
            f"{name}={url}: remove the path {parts.path!r}; "
            f"expected only https://host (cx360 adds the API paths)"
        )
    return None


def check_settings(config: dict[str, Any]) -> None:
    """Normalise and validate in place; raise :class:`SettingProblem` naming the first bad one."""
    url = str(config.get("CX360_DATABASE_URL") or "")
    if url:
        config["CX360_DATABASE_URL"] = database_url_checked(url)
    for name, path_allowed in _CRM_URLS.items():
        value = str(config.get(name) or "").strip()
        if value and (problem := crm_url_problem(name, value, path_allowed=path_allowed)):
            raise SettingProblem(problem)
    bundle = str(config.get("CX360_CRM_CA_BUNDLE") or "").strip()
    if bundle and (problem := ca_bundle_problem(bundle)):
        raise SettingProblem(problem)
    hours = config.get("CX360_REVENUE_REFRESH_HOURS")
    if hours is not None and (not isinstance(hours, int | float) or not 0 <= hours < 10**6):
        raise SettingProblem(
            f"CX360_REVENUE_REFRESH_HOURS={hours!r}: expected hours >= 0 (0: refresh only on "
            "demand)"
        )
