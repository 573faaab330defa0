"""The export's subprocesses: `python -m MODULE ARGS` under a chosen Keras backend."""

import os
import subprocess
import sys

from keras_clx.errors import ClxError


def run_module(module, *args, backend, what):
    """Runs `python -m module args` with `KERAS_BACKEND=backend`.

    The subprocess's last `error: ...` line is raised here as a `ClxError`; any
    other failure as a `RuntimeError` naming `what`, with the tail of its stderr.
    """
    env = dict(os.environ, KERAS_BACKEND=backend)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    process = subprocess.run([sys.executable, "-m", module, *map(str, args)], env=env, capture_output=True, text=True)
    if process.returncode == 0:
        return
    lines = [line for line in process.stderr.splitlines() if line.strip()]
    errors = [line[len("error: ") :] for line in lines if line.startswith("error: ")]
    if errors:
        raise ClxError(errors[-1])
    tail = "\n".join(lines[-15:])
    raise RuntimeError(f"{what} failed (exit code {process.returncode}):\n{tail}")
