"""What a micro-batch run's process spends before its first step: start, imports, and the Spark Connect attach.

Each figure is the median over `--repeats` fresh processes (as Dagster's run launcher starts one per
run): the interpreter alone, Dagster's run CLI, the code location (tweetsent_assets.definitions),
the Spark Connect client, the MLflow registry client (which a run skips when the sensor pinned the
champion), and attaching to a Connect server this script starts (`--no-connect` skips it). Run:

    .venv/bin/python benchmarks/run_start.py --repeats 5
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO_ROOT, load_note, median, owned_connect_server, run_main  # noqa: E402

STAGES = {
    "interpreter": "pass",
    "dagster run CLI": "import dagster._cli.api",
    "+ code location": "import dagster._cli.api, tweetsent_assets.definitions",
    "+ Spark Connect client": "import dagster._cli.api, tweetsent_assets.definitions, pyspark.sql.connect.session",
    "+ MLflow registry client": "import dagster._cli.api, tweetsent_assets.definitions, pyspark.sql.connect.session, "
                                "tweetsent_assets.lib.ml.registry",
}
ATTACH = """
import time
from pathlib import Path
started = time.perf_counter()
from tweetsent_assets.lib.lake.connect_session import connect
spark, lease = connect({url!r}, Path({slots!r}), 1)
spark.range(1).collect()
print(time.perf_counter() - started)
"""


def seconds(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-connect", action="store_true")
    args = parser.parse_args(argv)
    print(f"start: {load_note()}", flush=True)
    figures = {}
    for name, code in STAGES.items():
        figures[name] = median([seconds(code) for _ in range(args.repeats)])
        print(f"{name}: {figures[name]:.2f} s", flush=True)
    if not args.no_connect:
        from tweetsent_assets.lib.lake import connect_server

        root = Path(tempfile.mkdtemp(prefix="tweetsent-bench-run-start-"))
        with connect_server.running(owned_connect_server(root / "spark-connect")) as server:
            code = ATTACH.format(url=server.url, slots=str(root / "slots"))
            attach = [float(subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT,
                                           capture_output=True, text=True).stdout.split()[-1])
                      for _ in range(args.repeats)]
            figures["Connect attach + first query"] = median(attach)
            print(f"Connect attach + first query (in the process): {median(attach):.2f} s", flush=True)
    saved = figures["+ MLflow registry client"] - figures["+ Spark Connect client"]
    print(f"end: {load_note()}")
    print(f"code_location_s={figures['+ code location'] - figures['dagster run CLI']:.2f} "
          f"dagster_cli_s={figures['dagster run CLI'] - figures['interpreter']:.2f} "
          f"mlflow_import_skipped_s={saved:.2f}")
    return 0


if __name__ == "__main__":
    run_main(main)
