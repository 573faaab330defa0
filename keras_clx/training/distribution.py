"""Data-parallel training over all local devices (`train.distribution=data_parallel`).

- JAX: `keras.distribution.DataParallel` over `keras.distribution.list_devices()`
  (every device of every process, `keras_clx.training.processes`).
- TensorFlow: `tf.distribute.MultiWorkerMirroredStrategy` from `TF_CONFIG` (several
  processes), `tf.distribute.TPUStrategy` when a TPU is present, else
  `tf.distribute.MirroredStrategy`; boolean padding masks are cast to int32
  (MirroredStrategy cannot `AddN` booleans).
- torch: Keras 3.15 has no torch data parallelism: a `ClxError`.

The recipe's batch size is the global batch; each replica gets `batch / replicas`.
With several processes every process reads the same global batches from the same
pipeline (same seed, same order) and keeps its slice of each (JAX: `_ProcessSlices`;
TensorFlow: the strategy's own sharding), so what follows from the data (pool
predictions, selections, reports) is the same on every process by construction.
"""

import contextlib

import keras

from keras_clx.errors import ClxError
from keras_clx.training import processes

SETTINGS = ("none", "data_parallel")


class _ProcessSlices(keras.distribution.DataParallel):
    """Keras's `DataParallel`, but each process keeps its slice of every global batch
    (rows `[i * n / P, (i + 1) * n / P)` of process i of P) instead of `rebatch` + `shard`,
    which hands a short last batch to one process only and would leave the others waiting."""

    def distribute_dataset(self, dataset):
        if not self._is_multi_process:
            return dataset
        import tensorflow as tf

        count, index = self._num_processes, self._process_id

        def take(x):
            rows = tf.shape(x)[0]
            check = tf.debugging.assert_equal(
                rows % count, 0, message=f"a batch does not divide evenly across the {count} processes"
            )
            with tf.control_dependencies([check]):
                size = rows // count
            return x[index * size : (index + 1) * size]

        return dataset.map(lambda *batch: tf.nest.map_structure(take, batch if len(batch) > 1 else batch[0]))


@contextlib.contextmanager
def _jax_data_parallel():
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(_ProcessSlices(devices=keras.distribution.list_devices()))
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)


class ReplicatedPredictions:
    """Model mixin: under a JAX distribution `predict_step` leaves its outputs replicated on every
    device, so each process holds all rows (batch-sharded outputs of several processes cannot be
    read as one NumPy array). Elsewhere Keras's step as is."""

    def predict_step(self, *args):
        outputs = super().predict_step(*args)
        distribution = keras.distribution.distribution()
        if keras.backend.backend() != "jax" or distribution is None:
            return outputs

        def replicate(x):
            layout = keras.distribution.TensorLayout([None] * len(x.shape), distribution.device_mesh)
            return keras.distribution.distribute_tensor(x, layout)

        return keras.tree.map_structure(replicate, outputs)


class DataParallel:
    """What a run needs to train data-parallel: a scope for building and fitting,
    the replica count, and a batch transform for the input pipeline."""

    def __init__(self, setting, batch_size, batch_key="train.batch_size"):
        if setting not in SETTINGS:
            raise ClxError(f"train.distribution must be one of {list(SETTINGS)}, got {setting!r}")
        self.setting = setting
        self.backend = keras.backend.backend()
        self._strategy = None
        if setting == "none":
            self.replicas = 1
        elif self.backend == "torch":
            raise ClxError(
                "train.distribution=data_parallel is not available on the torch backend "
                "(Keras 3.15 has no torch data parallelism); use KERAS_BACKEND=jax or tensorflow"
            )
        elif self.backend == "jax":
            self.replicas = len(keras.distribution.list_devices())
        else:
            self._strategy = processes.tf_strategy()
            self.replicas = self._strategy.num_replicas_in_sync
        if batch_size % self.replicas:
            raise ClxError(f"{batch_key}={batch_size} is not divisible by the {self.replicas} replicas")
        self.per_replica_batch = batch_size // self.replicas

    @property
    def enabled(self):
        return self.setting != "none"

    def scope(self):
        """Build, compile and fit the model inside this scope."""
        if not self.enabled:
            return contextlib.nullcontext()
        if self.backend == "jax":
            return _jax_data_parallel()
        return self._strategy.scope()

    def cast_masks(self, dataset):
        """Casts boolean features to int32 (TensorFlow replicas cannot sum booleans)."""
        if not (self.enabled and self.backend == "tensorflow"):
            return dataset
        import tensorflow as tf

        def cast(x):
            return tf.cast(x, tf.int32) if x.dtype == tf.bool else x

        return dataset.map(lambda *batch: tf.nest.map_structure(cast, batch))

    def describe(self):
        if not self.enabled:
            return "single device"
        kind = "keras.distribution.DataParallel" if self.backend == "jax" else type(self._strategy).__name__
        where = processes.current()
        across = f", {where.count} processes (this is {where.index})" if where.several else ""
        return f"{kind} over {self.replicas} replicas{across}, {self.per_replica_batch} examples per replica"
