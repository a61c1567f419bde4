"""cx360 deployed against the sandbox CRM: for the test suite and the benchmarks.

One place for what both need (as ``celery.contrib.testing`` is for Celery): cx360's config for
one CRM, the environment for its processes, ``cx360 install``, real ``cx360 worker`` processes
with their logs, and waiting for a condition while watching the workers. The pytest fixtures
(tests/pipeline) and the benchmark harness (bench/_harness.py, which puts the repository root on
``sys.path``) build on it. It lives beside the tests, not in ``connector``: the product itself
never imports the sandbox CRM outside the demo and ``cx360 sandbox`` commands.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask

from connector.app import database
from connector.auth import create_api_key
from connector.crm.factory import adapter_from_config
from connector.crm.mapping import load_mapping
from connector.crm.provisioning import apply_install, plan_install
from connector.crm.types import CrmAdapter
from crm_sandbox import SandboxServer

CONFIG_PREFIXES = ("CX360_", "HUBSPOT_", "SALESFORCE_")


class DeploymentError(RuntimeError):
    """A worker exited, or a condition was not met in time; the message has the worker logs."""


@dataclass
class Deployment:
    """cx360 configured for ``crm`` against ``sandbox``, with its web app and workers."""

    crm: str
    config: dict[str, Any]
    sandbox: SandboxServer
    instance: Path
    app: Flask
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    worker_loglevel: str = "INFO"

    @property
    def env(self) -> dict[str, str]:
        """This process's environment without any cx360 setting, plus the deployment's."""
        keep = {k: v for k, v in os.environ.items() if not k.startswith(CONFIG_PREFIXES)}
        return {**keep, **{k: str(v) for k, v in self.config.items() if v not in (None, "")}}

    def adapter(self) -> CrmAdapter:
        return adapter_from_config(self.config)

    def install(self) -> None:
        adapter = self.adapter()
        apply_install(adapter, plan_install(adapter, load_mapping(self.crm, self.config)))

    def api_key(self, scope: str) -> str:
        with database(self.app).session() as session:
            _, key = create_api_key(session, scope, f"{type(self).__name__.lower()} {scope}")
        return key

    def start_worker(self, concurrency: int = 1, beat: bool = True) -> subprocess.Popen[bytes]:
        log = open(self.instance / f"worker-{len(self.workers)}.log", "wb")  # noqa: SIM115
        args = [
            sys.executable,
            "-m",
            "connector.cli",
            "worker",
            "-c",
            str(concurrency),
            "--loglevel",
            self.worker_loglevel,
            "--beat" if beat else "--no-beat",
        ]
        process = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.workers.append(process)
        return process

    def worker_logs(self, tail: int = 4000) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-tail:]
            for p in sorted(self.instance.glob("worker-*.log"))
        )

    def stop_workers(self) -> None:
        for process in self.workers:
            process.terminate()
        for process in self.workers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.workers.clear()

    def wait_for(
        self,
        condition: Callable[[], Any],
        timeout: float = 90.0,
        what: str = "",
        poll: float = 0.3,
    ) -> Any:
        """``condition()`` once it is truthy; DeploymentError when a worker exits or time is up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = condition()
            if result:
                return result
            for process in self.workers:
                if process.poll() is not None:
                    raise DeploymentError(
                        f"worker exited ({process.returncode}):\n{self.worker_logs()}"
                    )
            time.sleep(poll)
        raise DeploymentError(
            f"timed out after {timeout:.0f} s waiting for {what}\n"
            f"--- worker logs ---\n{self.worker_logs()}"
        )
