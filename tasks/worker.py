"""The Celery app for ``celery -A tasks.worker`` and ``cx360 worker`` (config from env)."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import setup_logging

import tasks.revenue  # registers the tasks (as does the next line)
import tasks.sync  # noqa: F401 - registers the tasks
from connector.app import create_app
from connector.celery_app import init_celery
from connector.logs import configure_logging, log_format_of

flask_app = create_app()
celery = init_celery(flask_app, start_embedded=True)


@setup_logging.connect(weak=False)
def _cx360_logging(loglevel: int | str | None = None, **_: Any) -> None:
    """Worker and beat log through cx360's handler (CX360_LOG_FORMAT); Celery adds none."""
    configure_logging(log_format_of(flask_app.config), loglevel or logging.INFO)
