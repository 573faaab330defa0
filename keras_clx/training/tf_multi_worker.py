"""Two fixes to Keras 3.15's TensorFlow trainer under `MultiWorkerMirroredStrategy` with
several workers, applied when that strategy starts (`processes.tf_strategy`); with any other
strategy both defer to Keras unchanged.

- `fit` first reduces one distributed batch with `strategy.reduce("MEAN", batch, axis=None)` to
  build the model; across workers that reduce fails on a structure of `PerReplica` values
  ("Attempt to convert a value (PerReplica...) to a Tensor"). The local replica's batch has the
  same shapes: it builds the model instead.
- The per-step logs are reduced with `strategy.reduce("MEAN", value, axis=0)`, which fails on the
  scalar logs ("Invalid reduction dimension 0 for input with 0 dimensions"): they are averaged
  over the replicas with `axis=None`, as MirroredStrategy's are.
"""

import keras
import tensorflow as tf
from keras.src.backend.tensorflow import trainer as tf_trainer

_patched = False


def _multi_worker(strategy):
    return tf_trainer._collective_all_reduce_multi_worker(strategy)


def patch_keras():
    global _patched
    if _patched:
        return
    _patched = True
    build, reduce = tf_trainer.TensorFlowTrainer._maybe_symbolic_build, tf_trainer.reduce_per_replica

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is not None and strategy is not None and _multi_worker(strategy):
            for _, _, batches in iterator:
                distributed = next(batches)
                data_batch = keras.tree.map_structure(
                    lambda v: (
                        strategy.experimental_local_results(v)[0]
                        if isinstance(v, tf.distribute.DistributedValues)
                        else v
                    ),
                    distributed,
                )
                break
            iterator = None
        return build(self, iterator=iterator, data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and _multi_worker(strategy):
            return keras.tree.map_structure(
                lambda v: (
                    strategy.reduce("MEAN", v, axis=None) if isinstance(v, tf.distribute.DistributedValues) else v
                ),
                values,
            )
        return reduce(values, strategy, reduction)

    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_per_replica
