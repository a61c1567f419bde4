"""The Celery app for ``celery -A tasks.worker`` and ``cx360 worker`` (config from env)."""

from __future__ import annotations

import tasks.revenue  # registers the tasks (as does the next line)
import tasks.sync  # noqa: F401 - registers the tasks
from connector.app import create_app
from connector.celery_app import init_celery

flask_app = create_app()
celery = init_celery(flask_app, start_embedded=True)
