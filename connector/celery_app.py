"""The Celery app, configured from the Flask app's config; tasks run in an app context.

The web app sends tasks by name (``send_task``); the worker (``tasks.worker``) imports the
task modules, so this module imports nothing of ``tasks``.

Settings and why (also in the README):
- ``task_acks_late`` + ``task_reject_on_worker_lost``: a task is acknowledged only when it has
  finished, so a worker killed mid-push leaves it to be delivered again.
- ``worker_prefetch_multiplier = 1``: a worker holds one push at a time; a long push never
  keeps others waiting behind it in a busy worker's buffer.
- Redis ``visibility_timeout`` 1,800 s: above the longest task (hard limit 900 s), so a slow
  push is not handed to a second worker while it still runs. Lost tasks need not wait for it:
  the outbox lease (CX360_OUTBOX_LEASE_SECONDS) makes the relay re-enqueue them sooner.
- Publishing does not retry and connects with a short timeout, so ingest answers at once
  while the broker is down (the outbox keeps the work).
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from flask import Flask

from connector.broker import broker_url

TASK_HARD_LIMIT = 900
VISIBILITY_TIMEOUT = 1800


def celery_config(config: dict[str, Any], *, start_embedded: bool = False) -> dict[str, Any]:
    broker = broker_url(config, start=start_embedded)
    options: dict[str, Any] = {"visibility_timeout": VISIBILITY_TIMEOUT}
    if broker.startswith(("redis", "rediss")):
        options.update(socket_connect_timeout=2, socket_timeout=10)
    return {
        "broker_url": broker,
        "broker_transport_options": options,
        "broker_connection_retry_on_startup": True,
        "task_ignore_result": True,
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": TASK_HARD_LIMIT,
        "task_soft_time_limit": TASK_HARD_LIMIT - 60,
        "task_publish_retry": False,
        "task_serializer": "json",
        "accept_content": ["json"],
        "worker_hijack_root_logger": False,
        "beat_schedule": beat_schedule(config),
    }


def beat_schedule(config: dict[str, Any]) -> dict[str, Any]:
    """What beat runs: the outbox relay, and the revenue refresh unless its interval is 0."""
    schedule: dict[str, Any] = {
        "relay-outbox": {
            "task": "cx360.relay_outbox",
            "schedule": float(config.get("CX360_RELAY_INTERVAL_SECONDS", 10.0)),
        }
    }
    hours = float(config.get("CX360_REVENUE_REFRESH_HOURS", 24.0))
    if hours > 0:
        schedule["refresh-revenue"] = {"task": "cx360.refresh_revenue", "schedule": hours * 3600}
    return schedule


def init_celery(app: Flask, *, start_embedded: bool = False) -> Celery:
    """Create the Celery app for a Flask app (``app.extensions['celery']``)."""

    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.import_name, task_cls=FlaskTask)
    celery.conf.update(celery_config(dict(app.config), start_embedded=start_embedded))
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
