"""The optimizer a recipe describes: AdamW on a learning-rate schedule, global-norm clipping and
gradient accumulation, all Keras optimizer features (so every train step, Keras's own and the
transfer steps, gets them through `optimizer.apply`).

    train.lr_schedule         cosine (warm-up, cosine decay) | linear (warm-up, linear decay) | constant
    train.clip_norm           `global_clipnorm`: clips the (accumulated) gradient's global norm
    train.accumulation_steps  `gradient_accumulation_steps`: one update per k batches, of their mean gradient

With accumulation the schedule counts optimizer updates (Keras's `optimizer.iterations`), so
its length is `ceil(batches / k)`.
"""

import keras

SCHEDULES = ("cosine", "linear", "constant")


def update_steps(batches, accumulation_steps=1):
    """Optimizer updates in `batches` batches."""
    return max(1, -(-batches // max(1, accumulation_steps)))


def learning_rate_schedule(kind, learning_rate, total_steps, warmup_ratio=0.0):
    """A Keras schedule over `total_steps` updates; warm-up from 0 over `warmup_ratio` of them."""
    if kind not in SCHEDULES:
        raise ValueError(f"train.lr_schedule must be one of {', '.join(SCHEDULES)}, got {kind!r}")
    total = max(1, int(total_steps))
    warmup = int(warmup_ratio * total) if kind != "constant" else 0
    if kind == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else learning_rate,
            decay_steps=max(1, total - warmup),
            warmup_target=learning_rate if warmup else None,
            warmup_steps=warmup,
        )
    if kind == "linear":
        return LinearWarmupDecay(learning_rate, total, warmup)
    return learning_rate


@keras.saving.register_keras_serializable(package="keras_clx")
class LinearWarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Hugging Face's `linear` schedule: 0 -> `learning_rate` over `warmup_steps`, then linearly to 0 at
    `total_steps`."""

    def __init__(self, learning_rate, total_steps, warmup_steps=0):
        self.learning_rate = float(learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "float32")
        warm = step / max(self.warmup_steps, 1)
        decay = (self.total_steps - step) / max(self.total_steps - self.warmup_steps, 1)
        factor = ops.where(step < self.warmup_steps, warm, ops.maximum(decay, 0.0))
        return self.learning_rate * factor

    def get_config(self):
        return {"learning_rate": self.learning_rate, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps}


def _merge_duplicate_rows(gradient):
    """A TensorFlow `IndexedSlices` whose repeated indices are summed into their first occurrence
    (the other rows zeroed): same dense value, but its values' norm is the dense norm. Static shapes
    (an n x n comparison of the n indices), so it compiles under XLA."""
    import tensorflow as tf

    indices = gradient.indices
    n = tf.shape(indices)[0]
    same = tf.equal(indices[:, None], indices[None, :])
    first = tf.argmax(tf.cast(same, tf.int32), axis=1, output_type=indices.dtype)
    values = tf.math.unsorted_segment_sum(gradient.values, first, tf.cast(n, first.dtype))
    return tf.IndexedSlices(values, indices, gradient.dense_shape)


class SparseSafeClipping:
    """Mixin for Keras optimizers: clipping by norm on TensorFlow measures embedding gradients
    (`IndexedSlices`, one row per token occurrence) by their dense norm. Keras's `global_norm`
    sums the squares of the rows as they come, so repeated tokens (and the transfer step's
    concatenated clean + perturbed rows) give another norm than the gradient's."""

    def _clip_gradients(self, grads):
        if (self.clipnorm or self.global_clipnorm) and keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            grads = [_merge_duplicate_rows(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
        return super()._clip_gradients(grads)


@keras.saving.register_keras_serializable(package="keras_clx")
class AdamW(SparseSafeClipping, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` with `SparseSafeClipping`."""


@keras.saving.register_keras_serializable(package="keras_clx")
class SGD(SparseSafeClipping, keras.optimizers.SGD):
    """`keras.optimizers.SGD` with `SparseSafeClipping`."""


def optimizer_options(train):
    """`keras.optimizers.Optimizer` arguments for the recipe's clipping and accumulation."""
    options = {"weight_decay": train.weight_decay}
    if train.clip_norm:
        options["global_clipnorm"] = train.clip_norm
    if train.accumulation_steps > 1:
        options["gradient_accumulation_steps"] = train.accumulation_steps
    return options


def build_optimizer(train, batches):
    """AdamW on `train.lr_schedule` over `batches` training batches, with clipping and accumulation."""
    schedule = learning_rate_schedule(
        train.lr_schedule, train.learning_rate, update_steps(batches, train.accumulation_steps), train.warmup_ratio
    )
    return AdamW(schedule, **optimizer_options(train))
