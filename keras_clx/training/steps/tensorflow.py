"""The transfer train step on TensorFlow: one `GradientTape` per backward pass."""

import tensorflow as tf
from keras import tree

from keras_clx.training.steps import common


class Autodiff:
    """`forward` / `value_and_grad` over the model's live variables (see `common`)."""

    def __init__(self, model):
        self.model = model

    def forward(self, fn):
        return tree.map_structure(tf.stop_gradient, fn())

    def value_and_grad(self, fn, point=None, variables=True):
        trainable = list(self.model.trainable_variables) if variables else []
        with tf.GradientTape() as tape:
            if point is not None:
                tape.watch(point)
            value, aux = fn(point)
        grads = tape.gradient(value, ([point] if point is not None else []) + trainable)
        point_grad = grads.pop(0) if point is not None else None
        return (value, aux), point_grad, (grads if variables else None)

    @staticmethod
    def add(a, b, weight):
        if isinstance(a, tf.IndexedSlices) and isinstance(b, tf.IndexedSlices):
            # Embedding-table gradients stay sparse: concatenate their rows.
            return tf.IndexedSlices(
                tf.concat([a.values * weight, b.values], 0),
                tf.concat([a.indices, b.indices], 0),
                a.dense_shape,
            )
        return tf.convert_to_tensor(a) * weight + tf.convert_to_tensor(b)


def train_step(model, step, data):
    x, y, sample_weight = common.unpack(data)
    result = common.compute_step(model, step.config, Autodiff(model), x, y, sample_weight, step.seed)
    model.optimizer.apply(result.grads, model.trainable_variables)
    return common.update_metrics(model, result, y, sample_weight)
