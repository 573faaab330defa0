"""Wall time of `keras-clx fit recipes/demo.py` per backend (a benchmark, not a test).

    python tools/demo_walltime.py [--backends tensorflow jax torch] [--set k=v ...]

Each backend runs in a fresh process (import, vocabulary, training, evaluation and
saving included); prints a table with the target-average accuracy of each run.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from keras_clx.run_dir import RunDir


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    parser.add_argument("--recipe", default="recipes/demo.py")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    cli = os.path.join(os.path.dirname(sys.executable), "keras-clx")
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, python {platform.python_version()}")
    print("| backend | wall time (s) | fit (s) | target avg accuracy |")
    print("|---|---|---|---|")
    for backend in args.backends:
        with tempfile.TemporaryDirectory() as tmp:
            command = [cli, "--quiet", "--backend", backend, "fit", args.recipe, "--out", f"{tmp}/run"]
            for item in args.overrides:
                command += ["--set", item]
            started = time.time()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            wall = time.time() - started
            metrics = json.loads(RunDir(f"{tmp}/run").metrics.read_text())
        accuracy = 100 * metrics["target_average"]["accuracy"]
        print(f"| {backend} | {wall:.1f} | {metrics['fit_seconds']:.1f} | {accuracy:.2f} |", flush=True)


if __name__ == "__main__":
    main()
