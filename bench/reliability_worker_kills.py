"""Reliability: kill -9 worker processes repeatedly during a 20,000-contact push.

Private PostgreSQL and Redis (temp dirs, free ports), the sandbox CRM, two ``cx360 worker``
processes; every few seconds one whole worker (main process, pool child, beat) is killed with
SIGKILL and replaced. PASS when, after the outbox drains, every contact in the sandbox holds
exactly the scoring core's values and every detractor has exactly one follow-up task.

    .venv/bin/python bench/reliability_worker_kills.py [--contacts 20000] [--kills 20]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from crm_sandbox import SandboxServer  # noqa: E402
from tests.pipeline.conftest import make_pipeline  # noqa: E402
from tests.reliability.harness import (  # noqa: E402
    Finalizers,
    PrivatePostgres,
    PrivateRedis,
    WorkerGroups,
    check_crm,
    make_load,
    pending_outbox,
    post_load,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--crm", choices=("hubspot", "salesforce"), default="hubspot")
    parser.add_argument("--timeout", type=float, default=900, help="seconds for the whole push")
    args = parser.parse_args()
    finals = Finalizers()
    folder = Path(tempfile.mkdtemp(prefix="cx360-rk-"))
    pg, rd = PrivatePostgres(), PrivateRedis()
    try:
        pg.init()
        pg.start()
        rd.start()
        with SandboxServer(crm="both", port=0, state_dir=folder) as sandbox:
            pipeline = make_pipeline(
                args.crm, "embedded", sandbox, finals,  # type: ignore[arg-type]
                CX360_DATABASE_URL=pg.url, CX360_BROKER_URL=rd.url, CX360_PUSH_CHUNK=500,
                CX360_OUTBOX_LEASE_SECONDS=20, CX360_RELAY_INTERVAL_SECONDS=2.0,
            )  # fmt: skip
            pipeline.install()
            load = make_load(sandbox, args.crm, args.contacts, accounts=200)
            started = time.monotonic()
            post_load(pipeline.app.test_client(), load, pipeline.headers("ingest"))
            print(f"ingested {args.contacts} responses in {time.monotonic() - started:.1f}s")
            workers = WorkerGroups(pipeline.env, pipeline.instance)
            finals.addfinalizer(workers.stop)
            workers.start()
            workers.start(beat=False)
            rng = random.Random(20000)
            kills = 0
            started = time.monotonic()
            deadline = started + args.timeout
            while time.monotonic() < deadline and pending_outbox(pipeline.app):
                time.sleep(rng.uniform(2.0, 6.0) if kills < args.kills else 1.0)
                if kills >= args.kills or not pending_outbox(pipeline.app):
                    continue
                victim = rng.choice(workers.processes)
                beat = victim is workers.processes[0]
                workers.kill(victim)
                kills += 1
                replacement = workers.start(beat=beat)
                if beat:
                    workers.processes.remove(replacement)
                    workers.processes.insert(0, replacement)
            took = time.monotonic() - started
            left = pending_outbox(pipeline.app)
            check = check_crm(sandbox, pipeline.config, load, datetime.now(UTC))
            stats = sandbox.admin.stats()
            print(f"kills: {kills}; push took {took:.1f}s; outbox rows left: {left}; "
                  f"CRM calls: {stats['total']}")  # fmt: skip
            print(check.summary())
            ok = left == 0 and check.ok and kills >= min(args.kills, 1)
            what = f"{kills} kill -9 during a {args.contacts}-contact push"
            print(("PASS" if ok else "FAIL") + f": worker kills ({what}): exact values, "
                  "one task per detractor")  # fmt: skip
            if not ok:
                print(workers.logs(), file=sys.stderr)
            finals.run()
            return 0 if ok else 1
    finally:
        finals.run()
        rd.close()
        pg.close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
