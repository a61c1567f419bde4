"""The handles that blueprints, tasks and commands share, set up by the app factory.

As in Flask's tutorial and the flask-smorest examples, the handles live here rather than in
``connector.app``: the factory imports the blueprints and calls :func:`init_app`, the blueprints
import this module, and so every import runs one way.
"""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from connector.storage import Database

DATABASE_EXTENSION = "cx360.db"


def init_app(app: Flask) -> Database:
    """Open the app's database (``app.extensions['cx360.db']``) and close request sessions."""
    app.extensions[DATABASE_EXTENSION] = Database(app.config["CX360_DATABASE_URL"])
    app.teardown_appcontext(_close_session)
    return database(app)


def database(app: Flask | None = None) -> Database:
    """The database of ``app``, or of the current app."""
    database: Database = (app or current_app).extensions[DATABASE_EXTENSION]
    return database


def db_session() -> Session:
    """The request's session (one per app context), closed at teardown."""
    if "db_session" not in g:
        g.db_session = database().sessions()
    session: Session = g.db_session
    return session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
