"""Settings checked before anything connects: each problem names the setting to fix.

Called from :func:`connector.config.finish_config`, so every command (and the web app) refuses
a CA bundle that is missing or not PEM, and a database URL whose scheme SQLAlchemy cannot load,
with one message instead of a traceback from deep inside requests or SQLAlchemy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Heroku-style ``postgres://`` URLs name the same database; SQLAlchemy 1.4 dropped that
#: alias and loads only ``postgresql://`` (a NoSuchModuleError traceback otherwise).
_SCHEME_ALIASES = {"postgres": "postgresql"}
_SUPPORTED_SCHEMES = ("postgresql", "sqlite")
_PEM_CERTIFICATE_MARKER = b"-----BEGIN CERTIFICATE-----"


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


def check_settings(config: dict[str, Any]) -> None:
    """Normalise and validate in place; raise :class:`SettingProblem` naming the first bad one."""
    url = str(config.get("CX360_DATABASE_URL") or "")
    if url:
        config["CX360_DATABASE_URL"] = database_url_checked(url)
    bundle = str(config.get("CX360_CRM_CA_BUNDLE") or "").strip()
    if bundle and (problem := ca_bundle_problem(bundle)):
        raise SettingProblem(problem)
