"""gunicorn settings for cx360's web server (copy to /etc/cx360/gunicorn.conf.py).

Every value can be overridden from the environment file (GUNICORN_CMD_ARGS, or the
variables below).
"""

import os

from connector.logs import ACCESS_LOG_FORMAT

bind = os.environ.get("CX360_BIND", "127.0.0.1:8360")  # behind a TLS-terminating proxy
workers = int(os.environ.get("CX360_WEB_WORKERS", "4"))
threads = 1
timeout = 60  # a request that takes longer is a hang; ingest answers in milliseconds
graceful_timeout = 20  # SIGTERM: finish requests in flight, then stop
keepalive = 5
max_requests = 10_000  # recycle workers now and then
max_requests_jitter = 1_000
forwarded_allow_ips = os.environ.get("CX360_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"  # to the journal
errorlog = "-"
loglevel = "info"
# Text or JSON lines as CX360_LOG_FORMAT says; the access line names the request's X-Request-ID.
logger_class = "connector.logs.GunicornLogger"
access_log_format = ACCESS_LOG_FORMAT
# gunicorn 25+: no control socket (cx360 does not use gunicornc; stopping it took up to 4 s,
# and its default path is shared by every server of the user). Older releases ignore this.
control_socket_disable = True


# Metrics of all workers in each scrape of /metrics: the workers write their values to files in
# PROMETHEUS_MULTIPROC_DIR (default: metrics/ in the unit's RuntimeDirectory), emptied at start;
# an ended worker's files are dropped.
def on_starting(server):
    runtime = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or (
        runtime and os.path.join(runtime, "metrics")
    )
    if directory:
        from pathlib import Path

        from connector.metrics import prepare_multiprocess_dir

        prepare_multiprocess_dir(Path(directory))


def child_exit(server, worker):
    from connector.metrics import forget_process

    forget_process(worker.pid)
