"""The Celery app for ``celery -A tasks.worker`` and ``cx360 worker`` (config from env)."""

from __future__ import annotations

from connector.app import create_app
from tasks.celery_app import init_celery

flask_app = create_app()
celery = init_celery(flask_app, start_embedded=True)
