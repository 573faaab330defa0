"""Several processes (hosts) training one data-parallel run.

Every process starts the same command; the environment says which process it is:

- JAX: `KERAS_DISTRIBUTION_JOB_ADDRESSES` (the coordinator, process 0, as `host:port`),
  `KERAS_DISTRIBUTION_NUM_PROCESSES` and `KERAS_DISTRIBUTION_PROCESS_ID` (all three):
  `jax.distributed.initialize`, with gloo CPU collectives unless
  `JAX_CPU_COLLECTIVES_IMPLEMENTATION` says otherwise.
- TensorFlow: `TF_CONFIG` (`{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": i}}`):
  `tf.distribute.MultiWorkerMirroredStrategy`.

Both must start before the engine computes anything (`initialize`, called first by
`keras-clx fit` and by `keras_clx.fit`). Process 0 (TensorFlow: the chief, else worker 0)
is the writer of the run directory; the others stage into a throwaway directory
(`keras_clx.run_dir.staged`). A peer that dies makes the collectives of the others fail:
`PeerError` (exit code 4), at the latest after `CLX_PEER_TIMEOUT` seconds (default 120;
JAX's heartbeat timeout, TensorFlow's collective timeout).
"""

import dataclasses
import json
import os

from keras_clx.errors import ClxError

JAX_VARIABLES = (
    "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "KERAS_DISTRIBUTION_PROCESS_ID",
)
TIMEOUT_VARIABLE = "CLX_PEER_TIMEOUT"
DEFAULT_TIMEOUT = 120
CONNECT_TIMEOUT = 300  # seconds every process has to start and reach the coordinator


class PeerError(ClxError):
    """Another process of a multi-process run failed (died, or its collectives timed out). Exit code 4."""

    exit_code = 4


@dataclasses.dataclass(frozen=True)
class Processes:
    """This process's place in the run: `index` of `count`; `engine` names what connects them."""

    count: int = 1
    index: int = 0
    engine: str = ""
    address: str = ""

    @property
    def several(self):
        return self.count > 1

    @property
    def is_writer(self):
        """Process 0 writes the run directory (and prints the phase lines)."""
        return self.index == 0

    def describe(self):
        return f"process {self.index} of {self.count} ({self.engine}, coordinator {self.address})"


SINGLE = Processes()
_current = SINGLE


def current():
    """The `Processes` of this run (`SINGLE` until `initialize` connected several)."""
    return _current


def peer_timeout():
    value = os.environ.get(TIMEOUT_VARIABLE, str(DEFAULT_TIMEOUT))
    if not value.isdigit() or int(value) < 1:
        raise ClxError(f"{TIMEOUT_VARIABLE} must be a whole number of seconds, got {value!r}")
    return int(value)


def _jax_spec():
    values = {name: os.environ.get(name, "").strip() for name in JAX_VARIABLES}
    if not any(values.values()):
        return None
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ClxError(
            f"{', '.join(missing)} is not set (a multi-process JAX run needs all of {', '.join(JAX_VARIABLES)})"
        )
    address, count, index = values.values()
    for name, value in zip(JAX_VARIABLES[1:], (count, index)):
        if not value.isdigit():
            raise ClxError(f"{name} must be a whole number, got {value!r}")
    count, index = int(count), int(index)
    if count < 1 or not 0 <= index < count:
        raise ClxError(
            f"KERAS_DISTRIBUTION_PROCESS_ID={index} is not one of 0..{count - 1} (KERAS_DISTRIBUTION_NUM_PROCESSES)"
        )
    coordinator = address.split(",")[0]
    if ":" not in coordinator:
        raise ClxError(f"KERAS_DISTRIBUTION_JOB_ADDRESSES must start with the coordinator's host:port, got {address!r}")
    return Processes(count, index, "jax.distributed", coordinator)


def _tf_spec():
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        tasks = [(kind, i) for kind in ("chief", "worker") for i in range(len(cluster.get(kind, [])))]
        kind, index = task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ClxError(
            f"TF_CONFIG is malformed ({type(error).__name__}: {error}); expected "
            '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}'
        ) from None
    if (kind, index) not in tasks:
        raise ClxError(
            f"TF_CONFIG's task {kind} {index} is not in its cluster ({', '.join(f'{k} {i}' for k, i in tasks)})"
        )
    address = (cluster.get("chief") or cluster["worker"])[0]
    return Processes(len(tasks), tasks.index((kind, index)), "MultiWorkerMirroredStrategy", address)


def from_environment(backend, setting):
    """The `Processes` the environment describes, checked (a one-line `ClxError` naming the variable);
    starts nothing, so the command line checks it before importing an engine."""
    jax_spec, tf_spec = _jax_spec(), _tf_spec()
    spec = jax_spec if backend == "jax" else tf_spec if backend == "tensorflow" else jax_spec or tf_spec
    other = tf_spec if backend == "jax" else jax_spec if backend == "tensorflow" else None
    if other is not None and other.several and spec is None:
        wanted = "TF_CONFIG" if backend == "tensorflow" else "the KERAS_DISTRIBUTION_* variables"
        given = "TF_CONFIG" if backend == "jax" else "KERAS_DISTRIBUTION_*"
        raise ClxError(f"{given} describes several processes, but KERAS_BACKEND={backend} reads {wanted}")
    if spec is None or not spec.several:
        return SINGLE
    if setting != "data_parallel":
        raise ClxError(
            f"the environment describes {spec.count} processes: training across them needs "
            "--set train.distribution=data_parallel"
        )
    if backend == "torch":
        raise ClxError("several processes are not available on the torch backend; use KERAS_BACKEND=jax or tensorflow")
    peer_timeout()
    return spec


def initialize(backend, setting):
    """Connects the processes the environment describes (once per process); returns `current()`."""
    global _current
    spec = from_environment(backend, setting)
    if not spec.several or _current.several:
        return _current
    if backend == "jax":
        _initialize_jax(spec)
    else:
        tf_strategy()
    _current = spec
    return spec


def _initialize_jax(spec):
    import jax
    from jax._src import xla_bridge

    if not jax.distributed.is_initialized():
        if xla_bridge.backends_are_initialized():
            raise ClxError(
                "several JAX processes must connect before JAX computes anything: call keras_clx.fit "
                "(or keras_clx.training.processes.initialize) before other JAX work in this process"
            )
        if not os.environ.get("JAX_CPU_COLLECTIVES_IMPLEMENTATION"):
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
        try:
            jax.distributed.initialize(
                coordinator_address=spec.address,
                num_processes=spec.count,
                process_id=spec.index,
                initialization_timeout=CONNECT_TIMEOUT,
                heartbeat_timeout_seconds=peer_timeout(),
            )
        except Exception as error:  # noqa: BLE001  (the coordinator unreachable, a port taken, ...)
            raise PeerError(f"{spec.describe()} could not connect: {_first_line(error)}") from None
    if jax.process_count() != spec.count:
        raise ClxError(f"JAX connected {jax.process_count()} processes, the environment describes {spec.count}")


_strategy = None


def tf_strategy():
    """The one TensorFlow strategy of this process: `MultiWorkerMirroredStrategy` from `TF_CONFIG`
    when it lists several tasks, else `TPUStrategy` when a TPU is visible, else `MirroredStrategy`
    (a second strategy would break the first's collectives)."""
    global _strategy
    if _strategy is not None:
        return _strategy
    import tensorflow as tf

    spec = _tf_spec()
    if spec is not None and spec.several:
        from keras_clx.training import tf_multi_worker

        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=peer_timeout())
        try:
            _strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        except RuntimeError as error:  # "Collective ops must be configured at program startup"
            raise ClxError(f"MultiWorkerMirroredStrategy must start before TensorFlow runs anything: {error}") from None
        tf_multi_worker.patch_keras()
    elif tf.config.list_logical_devices("TPU"):
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.tpu.experimental.initialize_tpu_system(resolver)
        _strategy = tf.distribute.TPUStrategy(resolver)
    else:
        _strategy = tf.distribute.MirroredStrategy()
    return _strategy


def barrier(name):
    """Waits until every process reached `barrier(name)` (nothing with one process)."""
    if not _current.several:
        return
    if _current.engine == "jax.distributed":
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
        return
    import tensorflow as tf

    strategy = tf_strategy()
    strategy.reduce("SUM", strategy.run(tf.function(lambda: tf.constant(1.0))), axis=None)


def _first_line(error):
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0][:300] if lines else ''}"


PEER_SIGNS = (
    "gloo",
    "heartbeat",
    "connection reset",
    "connection closed",
    "socket closed",
    "unavailable",
    "deadline",
    "collective ops is aborted",
    "peer",
    "coordination service",
    "failed to connect",
)


def peer_failure(error):
    """A `PeerError` for an engine error that says another process failed (in a multi-process
    run), else None."""
    if not _current.several or isinstance(error, ClxError):
        return None
    text = str(error).lower()
    if not any(sign in text for sign in PEER_SIGNS):
        return None
    return PeerError(f"{_current.describe()}: another process failed ({_first_line(error)})")
