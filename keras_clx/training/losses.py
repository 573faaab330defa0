"""Cross-entropy with label smoothing on integer labels (`train.label_smoothing`).

Keras's sparse cross-entropy has no smoothing; with smoothing ε the target is
`(1 - ε)·one_hot(y) + ε / C`, as `keras.losses.CategoricalCrossentropy(label_smoothing=ε)`
and Hugging Face's `label_smoothing_factor`.
"""

import keras
from keras import ops


def smoothed_crossentropy(y, logits, smoothing=0.0):
    """Per-example cross-entropy of integer labels `y` against smoothed one-hot targets."""
    logits = ops.cast(logits, "float32")
    if not smoothing:
        return keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    classes = ops.shape(logits)[-1]
    targets = ops.one_hot(ops.cast(ops.reshape(y, ops.shape(logits)[:-1]), "int32"), classes)
    return keras.losses.categorical_crossentropy(targets, logits, from_logits=True, label_smoothing=smoothing)


@keras.saving.register_keras_serializable(package="keras_clx")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """`smoothed_crossentropy` as a compiled loss (Keras's own train step and evaluation)."""

    def __init__(self, label_smoothing=0.0, name="smoothed_sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        return smoothed_crossentropy(y_true, y_pred, self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}
