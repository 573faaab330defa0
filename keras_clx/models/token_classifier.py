"""`TokenClassifier`: one IOB tag per sub-word (opinion target extraction)."""

import keras
from keras import ops

from keras_clx.api_export import clx_export
from keras_clx.data.iob import IGNORE_INDEX
from keras_clx.models.backbones import backbone_family
from keras_clx.models.task import CrossLingualClassifier


def masked_mean(sequence, padding_mask):
    """Mean of `sequence` (batch, seq, dim) over the positions where `padding_mask` is true."""
    mask = ops.expand_dims(ops.cast(padding_mask, sequence.dtype), -1)
    total = ops.sum(sequence * mask, axis=1)
    count = ops.maximum(ops.sum(mask, axis=1), ops.cast(1, sequence.dtype))
    return total / count


@clx_export("keras_clx.models.TokenAccuracy")
class TokenAccuracy(keras.metrics.Metric):
    """Accuracy over the labelled sub-words (`y_true != ignore_index`)."""

    def __init__(self, ignore_index=IGNORE_INDEX, name="accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.ignore_index = ignore_index
        self.correct = self.add_variable((), initializer="zeros", name="correct")
        self.count = self.add_variable((), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "int32")
        mask = ops.cast(ops.not_equal(y_true, self.ignore_index), self.dtype)
        if sample_weight is not None:
            mask = mask * ops.cast(sample_weight, self.dtype)
        hits = ops.cast(ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), y_true), self.dtype)
        self.correct.assign_add(ops.sum(hits * mask))
        self.count.assign_add(ops.sum(mask))

    def result(self):
        return ops.divide_no_nan(self.correct, self.count)

    def reset_state(self):
        self.correct.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "ignore_index": self.ignore_index}


@clx_export("keras_clx.models.TokenClassifier")
class TokenClassifier(CrossLingualClassifier):
    """Backbone sequence output -> dropout -> dense logits for every position.

    Labels are per sub-word: the first sub-word of each word carries the word's
    IOB tag, every other position (later sub-words, special tokens, padding)
    is `-100` and left out of the loss and the accuracy (see
    `keras_clx.data.token_pipeline`).

    `head()` returns `(logits, features)`: logits of shape
    `(batch, sequence_length, num_classes)` and, as the sentence representation
    instance weighting compares, `features` = the mean of the backbone's sequence
    output over the non-padding positions (special tokens included), shape
    `(batch, hidden_dim)`. The Functional graph has no padding mask at hand in
    `head()`; `classify()` / `classify_embeddings()` pass it.

    Args:
        backbone: a keras-hub `BertBackbone` or `XLMRobertaBackbone`.
        num_classes: int. Number of tags (`len(IOBLabels(types))`).
        preprocessor: a keras-hub `TextClassifierPreprocessor` (its tokenizer and
            sequence length drive the word-aligned pipeline), or `None`.
        dropout: float. Dropout before the output layer.
    """

    def __init__(self, backbone, num_classes, preprocessor=None, dropout=0.1, **kwargs):
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.family = backbone_family(backbone)
        self.output_dropout = keras.layers.Dropout(dropout, dtype=backbone.dtype_policy, name="output_dropout")
        self.output_dense = keras.layers.Dense(num_classes, dtype=backbone.dtype_policy, name="logits")

        # === Functional Model ===
        self._build(backbone, preprocessor, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.dropout = dropout

    def head(self, backbone_outputs, training=None, padding_mask=None):
        sequence = backbone_outputs["sequence_output"] if self.family == "bert" else backbone_outputs
        if padding_mask is None:
            features = ops.mean(sequence, axis=1)
        else:
            features = masked_mean(sequence, padding_mask)
        x = self.output_dropout(sequence, training=training)
        return self.output_dense(x), features

    def classify_embeddings(self, embeddings, x, training=False):
        """`(logits, features)` from (possibly perturbed) `embeddings` of batch `x`."""
        inputs = [embeddings, *(x[name] for name in self._path.input_names)]
        outputs = self._path.encode(inputs, training=training)
        return self.head(outputs, training=training, padding_mask=x["padding_mask"])

    def per_example_loss(self, y, logits):
        """Mean cross-entropy over each instance's labelled sub-words, shape `(batch,)`.

        Positions labelled `-100` are ignored; an instance without any labelled
        position contributes 0. (The compiled default loss instead averages over
        every labelled sub-word of the batch.)
        """
        y = ops.cast(y, "int32")
        logits = ops.cast(logits, "float32")
        labelled = ops.not_equal(y, IGNORE_INDEX)
        safe = ops.where(labelled, y, ops.zeros_like(y))
        losses = keras.losses.sparse_categorical_crossentropy(safe, logits, from_logits=True)
        weights = ops.cast(labelled, losses.dtype)
        count = ops.sum(weights, axis=1)
        return ops.sum(losses * weights, axis=1) / ops.maximum(count, 1.0)

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        """As the base, with a loss and an accuracy that skip positions labelled -100."""
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=IGNORE_INDEX)
        if metrics == "auto":
            metrics = [TokenAccuracy(name="accuracy")]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "dropout": self.dropout})
        return config
