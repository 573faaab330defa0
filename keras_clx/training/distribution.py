"""Data-parallel training over all local devices (`train.distribution=data_parallel`).

- JAX: `keras.distribution.DataParallel` over `keras.distribution.list_devices()`;
  multi-host through `keras.distribution.initialize` (coordinator address, process
  count and id from `KERAS_DISTRIBUTION_JOB_ADDRESSES`, `..._NUM_PROCESSES`,
  `..._PROCESS_ID`).
- TensorFlow: `tf.distribute.TPUStrategy` when a TPU is present, else
  `tf.distribute.MirroredStrategy`; boolean padding masks are cast to int32
  (MirroredStrategy cannot `AddN` booleans).
- torch: Keras 3.15 has no torch data parallelism: a `ClxError`.

The recipe's batch size is the global batch; each replica gets `batch / replicas`.
"""

import contextlib
import functools
import os

import keras

from keras_clx.errors import ClxError

SETTINGS = ("none", "data_parallel")


@contextlib.contextmanager
def _jax_data_parallel():
    if os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES"):
        keras.distribution.initialize()
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=keras.distribution.list_devices()))
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)


@functools.cache
def _tf_strategy():
    """One strategy per process (a second MirroredStrategy breaks the first's collectives)."""
    import tensorflow as tf

    if tf.config.list_logical_devices("TPU"):
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    return tf.distribute.MirroredStrategy()


class DataParallel:
    """What a run needs to train data-parallel: a scope for building and fitting,
    the replica count, and a batch transform for the input pipeline."""

    def __init__(self, setting, batch_size):
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
            self._strategy = _tf_strategy()
            self.replicas = self._strategy.num_replicas_in_sync
        if batch_size % self.replicas:
            raise ClxError(f"train.batch_size={batch_size} is not divisible by the {self.replicas} replicas")
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
        return f"{kind} over {self.replicas} replicas, {self.per_replica_batch} examples per replica"
