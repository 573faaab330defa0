"""The paper's selection rule and the soft-label loss (paper 000, §2, Eq. 3).

After each round, the `k_per_class` (Kt) most confident predictions of every
predicted class (per language) leave the unlabelled pool and are merged into
the training data with their predicted labels (`select_pseudo_labels`); with
soft labels the model trains on the predicted distributions instead
(`SoftLabelCrossentropy`, `LabelAccuracy`).
"""

import dataclasses

import keras
import numpy as np

from keras_clx.api_export import clx_export


@dataclasses.dataclass
class Selection:
    """What `select_pseudo_labels` chose.

    `indices` are rows of the probability matrix, grouped by group (in order of
    first appearance), then by class, then by decreasing confidence; `labels` and
    `confidences` are their predicted class and its probability. `shortfalls`
    lists `(group, class, available)` for every class that had fewer than
    `k_per_class` candidates (it gives all it has).
    """

    indices: np.ndarray
    labels: np.ndarray
    confidences: np.ndarray
    shortfalls: list

    def __len__(self):
        return len(self.indices)

    def counts(self, num_classes):
        """Selected examples per class."""
        return np.bincount(self.labels, minlength=num_classes)


def select_pseudo_labels(probabilities, k_per_class, threshold=None, groups=None):
    """The top-`k_per_class` most confident rows per predicted class.

    Args:
        probabilities: `(n, classes)` class probabilities of the unlabelled pool.
        k_per_class: int, Kt. At most this many rows per predicted class (and group).
        threshold: optional float. Only rows whose confidence (highest probability)
            is at least `threshold` are candidates.
        groups: optional length-`n` sequence (e.g. the language of each row).
            Classes are balanced within each group separately.

    Ties are broken deterministically: a row's predicted class is the lowest class
    id among equal maxima (`argmax`), and among equally confident candidates of a
    class the row earlier in the pool wins (stable sort). Plain NumPy, so the rule
    is the same whichever backend produced the probabilities.

    Returns:
        A `Selection`.
    """
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities must be (examples, classes), got shape {probabilities.shape}")
    if isinstance(k_per_class, bool) or not isinstance(k_per_class, (int, np.integer)) or k_per_class < 1:
        raise ValueError(f"k_per_class must be a positive integer, got {k_per_class!r}")
    n, num_classes = probabilities.shape
    predicted = probabilities.argmax(axis=-1) if n else np.zeros(0, dtype=int)
    confidence = probabilities[np.arange(n), predicted]
    eligible = np.ones(n, bool) if threshold is None else confidence >= threshold
    groups = np.zeros(n, dtype=int) if groups is None else np.asarray(groups)
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} entries for {n} rows")
    _, first = np.unique(groups, return_index=True)
    chosen, shortfalls = [], []
    for group in groups[np.sort(first)]:
        in_group = (groups == group) & eligible
        for cls in range(num_classes):
            candidates = np.flatnonzero(in_group & (predicted == cls))
            order = np.argsort(-confidence[candidates], kind="stable")
            chosen.append(candidates[order[:k_per_class]])
            if len(candidates) < k_per_class:
                shortfalls.append((group.item() if hasattr(group, "item") else group, cls, len(candidates)))
    indices = np.concatenate(chosen).astype(int) if chosen else np.zeros(0, dtype=int)
    return Selection(indices, predicted[indices].astype(int), confidence[indices], shortfalls)


def _is_distribution(y_true, y_pred):
    return len(y_true.shape) == len(y_pred.shape)


@clx_export("keras_clx.training.SoftLabelCrossentropy")
class SoftLabelCrossentropy(keras.losses.Loss):
    """Cross-entropy against label ids `(batch,)` or distributions `(batch, classes)`.

    With `soft_labels` the training targets are distributions (one-hot for the
    source, the predicted distribution for a pseudo-label), while validation
    data keeps label ids: the target's rank chooses categorical or sparse
    cross-entropy, so one compiled loss serves both.
    """

    def __init__(self, from_logits=True, name="soft_label_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        if _is_distribution(y_true, y_pred):
            return keras.losses.categorical_crossentropy(y_true, y_pred, from_logits=self.from_logits)
        return keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=self.from_logits)

    def get_config(self):
        config = super().get_config()
        config.update({"from_logits": self.from_logits})
        return config


def _label_accuracy(y_true, y_pred):
    if _is_distribution(y_true, y_pred):
        y_true = keras.ops.argmax(y_true, axis=-1)
    return keras.metrics.sparse_categorical_accuracy(y_true, y_pred)


@clx_export("keras_clx.training.LabelAccuracy")
class LabelAccuracy(keras.metrics.MeanMetricWrapper):
    """Accuracy against label ids or distributions (their argmax)."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(fn=_label_accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}
