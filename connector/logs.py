"""Log lines of every cx360 process: text or JSON (``CX360_LOG_FORMAT``), with the ids that
tie a line to its cause — the web request (``request_id``, from ``X-Request-ID``), the Celery
task (``task_id``) and the sync run (``sync_run_id``) — wherever they are known.

One root handler on stderr, set up once per process by ``configure_logging``: by ``cx360
serve`` (gunicorn's error and access logs go through it too; the access line names the request
id), by the worker and beat through
Celery's ``setup_logging`` signal (Celery then leaves logging alone), and by the other
commands. The JSON lines come from python-json-logger.

The relay runs every few seconds; with nothing to relay it logs nothing at INFO
(``QuietRelay``): Celery's own "received" / "succeeded" / "Sending due task" lines for it are
DEBUG, and the relay itself logs at INFO only when it found work.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from contextvars import ContextVar
from typing import Any

from gunicorn.glogging import Logger
from pythonjsonlogger.json import JsonFormatter

from connector.config import LOG_FORMATS, load_config

REQUEST_ID_HEADER = "X-Request-ID"
# What a request id sent by a client or proxy may be: a token, not arbitrary text in our logs.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
# The task Celery's periodic relay runs (tasks/sync.py).
RELAY_TASK = "cx360.relay_outbox"

request_id: ContextVar[str | None] = ContextVar("cx360_request_id", default=None)
sync_run_id: ContextVar[int | None] = ContextVar("cx360_sync_run_id", default=None)

CONTEXT_FIELDS = ("request_id", "task_id", "sync_run_id")
# the JSON keys of the standard record attributes
RENAMED = {"asctime": "time", "levelname": "level", "name": "logger", "processName": "process"}
TEXT_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] %(name)s: %(message)s"


def request_id_from(sent: str | None) -> str:
    """The id a request is logged under: the one the client or proxy sent, if it is a sane
    token, else a new one."""
    if sent and _REQUEST_ID.fullmatch(sent):
        return sent
    return uuid.uuid4().hex


def _current_task_id() -> str | None:
    celery = sys.modules.get("celery")  # never import Celery into a process that has none
    if celery is None:
        return None
    task = celery.current_task
    request = getattr(task, "request", None) if task else None
    return getattr(request, "id", None)


class LogContext(logging.Filter):
    """Puts the ids known where the line is logged on the record (None where unknown)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.task_id = _current_task_id()
        record.sync_run_id = sync_run_id.get()
        return True


class TextFormatter(logging.Formatter):
    """Celery's line layout, with the known ids at the end: ``[request_id=… task_id=…]``."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        shown = [f"{name}={getattr(record, name)}" for name in CONTEXT_FIELDS
                 if getattr(record, name, None) is not None]  # fmt: skip
        return f"{line} [{' '.join(shown)}]" if shown else line


class QuietRelay(logging.Filter):
    """Celery's per-run INFO lines about the periodic relay, lowered to DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and _about_relay(record):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def _about_relay(record: logging.LogRecord) -> bool:
    args: Any = record.args
    if isinstance(args, dict):  # celery.app.trace / celery.worker.strategy
        return args.get("name") == RELAY_TASK
    return isinstance(args, tuple) and RELAY_TASK in args  # celery.beat: (entry, task name)


class CompactJsonFormatter(JsonFormatter):
    """JSON lines without the ids that are unknown where the line was logged."""

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in log_data.items() if v is not None or k not in CONTEXT_FIELDS}


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return CompactJsonFormatter(
            "{asctime}{levelname}{name}{processName}{message}{request_id}{task_id}{sync_run_id}",
            style="{",
            rename_fields=RENAMED,
        )
    return TextFormatter(TEXT_FORMAT)


def handler(log_format: str) -> logging.Handler:
    """A stderr handler in ``log_format`` that adds the context ids."""
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(formatter(log_format))
    stream.addFilter(LogContext())
    return stream


_QUIET_LOGGERS = ("celery.app.trace", "celery.worker.strategy", "celery.beat")


def configure_logging(log_format: str, level: int | str = logging.INFO) -> None:
    """This process's one root handler in ``log_format`` at ``level`` (again: replaced)."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"CX360_LOG_FORMAT={log_format!r}: expected text or json")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "cx360", False)]:
        root.removeHandler(old)
    new = handler(log_format)
    new.cx360 = True  # type: ignore[attr-defined]
    root.addHandler(new)
    root.setLevel(level if isinstance(level, int) else level.upper())
    logging.captureWarnings(True)  # Python warnings (e.g. Celery's) as log lines too
    for name in _QUIET_LOGGERS:
        quiet = logging.getLogger(name)
        if not any(isinstance(f, QuietRelay) for f in quiet.filters):
            quiet.addFilter(QuietRelay())


# gunicorn's access log line, with the request id the response carries (X-Request-ID).
ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s" request_id=%({x-request-id}o)s'


class GunicornLogger(Logger):
    """gunicorn's ``logger_class`` (``cx360 serve``, deploy/gunicorn.conf.py): cx360's root
    handler in ``CX360_LOG_FORMAT``, and gunicorn's error and access logs through it, so they
    share the format (in JSON, they are JSON lines too)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        configure_logging(log_format_of(load_config()), cfg.loglevel)
        for log in (self.error_log, self.access_log):
            for old in list(log.handlers):
                log.removeHandler(old)
            log.propagate = True


def log_format_of(config: Any) -> str:
    return str(config.get("CX360_LOG_FORMAT") or "text").strip().lower()
