"""Reliability: a minute of CRM outage (every call 503) mid-push, then a 429 storm.

Private Redis, SQLite, the sandbox CRM with HubSpot's 190 requests / 10 s limit on and the
shared rate limit at 180 / 10 s, one ``cx360 worker``. The outage starts once the push has
made a few calls. PASS when every contact arrives with exactly the scoring core's values, every
detractor has one task, and the 429s the pipeline caused itself are at most 1 % of its calls.

    .venv/bin/python bench/reliability_outage.py [--contacts 5000] [--outage 60] [--storm 50]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from crm_sandbox import SandboxServer  # noqa: E402
from tests.pipeline.conftest import make_pipeline  # noqa: E402
from tests.reliability.harness import (  # noqa: E402
    Finalizers,
    PrivateRedis,
    WorkerGroups,
    check_crm,
    make_load,
    outage_and_storm,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--outage", type=float, default=60.0)
    parser.add_argument("--storm", type=int, default=50, help="429s injected after the outage")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    finals = Finalizers()
    folder = Path(tempfile.mkdtemp(prefix="cx360-ro-"))
    rd = PrivateRedis()
    try:
        rd.start()
        with SandboxServer(crm="both", port=0, state_dir=folder) as sandbox:
            pipeline = make_pipeline(
                "hubspot", "embedded", sandbox, finals,  # type: ignore[arg-type]
                CX360_BROKER_URL=rd.url, CX360_PUSH_CHUNK=1000,
                CX360_CRM_RATE_LIMIT="180 per 10 seconds",
            )  # fmt: skip
            pipeline.install()
            load = make_load(sandbox, "hubspot", args.contacts, accounts=50)
            sandbox.admin.set_limits(hubspot_ten_second=190, reset_usage=True)
            sandbox.admin.reset_stats()
            workers = WorkerGroups(pipeline.env, pipeline.instance)
            finals.addfinalizer(workers.stop)
            result = outage_and_storm(pipeline, workers, load, outage_seconds=args.outage,
                                      storm=args.storm, timeout=args.timeout)  # fmt: skip
            check = check_crm(sandbox, pipeline.config, load, datetime.now(UTC))
            share = result.organic_429_share
            print(f"{result.calls} CRM calls, {result.outage_503} answered 503 in the outage, "
                  f"{result.injected_429} injected 429s, "
                  f"{result.rate_limited - result.injected_429} caused by the pipeline "
                  f"({100 * share:.2f} %); done in {result.seconds:.1f}s; "
                  f"outbox rows left {result.left}")  # fmt: skip
            print(check.summary())
            ok = result.left == 0 and check.ok and share <= 0.01 and result.outage_503 > 0
            print(("PASS" if ok else "FAIL") + f": {args.outage:.0f}s outage and a "
                  f"{args.storm}-429 storm during a {args.contacts}-contact push")  # fmt: skip
            if not ok:
                print(workers.logs(), file=sys.stderr)
            return 0 if ok else 1
    finally:
        finals.run()
        rd.close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
