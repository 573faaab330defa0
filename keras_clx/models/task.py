"""`CrossLingualClassifier`: a keras-hub `Task` with a path from the token embeddings on.

Adversarial training perturbs the output of the token embedding (BERT) or of the
fused token + position embedding (XLM-R; the sum is additive, so its gradient is
the token-embedding gradient). keras-hub backbones are Functional models, so a
sub-model that starts at that intermediate tensor shares every weight:

    embeddings = model.embed(x)                        # the perturbation point
    logits, features = model.classify_embeddings(embeddings + r, x)

`features` is the representation the head classifies (used by instance weighting).

Compiled with `transfer=TransferConfig(...)`, the classifier trains with the
transfer step of `keras_clx.training.steps` (embedding perturbation, instance
weighting) instead of Keras's own.
"""

import keras
import keras_hub

from keras_clx.models.backbones import backbone_family
from keras_clx.models.dropout import use_fast_dropout
from keras_clx.training import steps
from keras_clx.training.distribution import ReplicatedPredictions
from keras_clx.training.losses import SmoothedSparseCrossentropy, smoothed_crossentropy


class _EmbeddingPath:
    """The backbone split at its embedding output (plain object: not tracked twice).

    `embed` is the one layer that maps `token_ids` to the cut (called directly: a
    wrapping Model would add its dispatch to every pass); `encode` a Model from there on.
    """

    def __init__(self, backbone):
        family = backbone_family(backbone)
        self.embed = backbone.token_embedding if family == "bert" else backbone.embeddings
        cut = self.embed.output
        self.input_names = [name for name in backbone.input if name != "token_ids"]
        others = [backbone.input[name] for name in self.input_names]
        self.encode = keras.Model([cut, *others], backbone.output)


class CrossLingualClassifier(ReplicatedPredictions, keras_hub.models.Task):
    """Base of the sequence and token classifiers.

    Subclasses build their layers, then call `_build(backbone, preprocessor, **kwargs)`,
    and implement `head(backbone_outputs, training)` returning `(logits, features)`:
    the same head serves the Functional graph and the embedding path.
    """

    def _build(self, backbone, preprocessor, **kwargs):
        inputs = backbone.input
        logits, _ = self.head(backbone(inputs))
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self._path = _EmbeddingPath(backbone)
        self._transfer = None
        use_fast_dropout(self)  # JAX and torch: their stock CPU masks are slow

    def head(self, backbone_outputs, training=None):
        raise NotImplementedError

    def __call__(self, inputs, *args, **kwargs):
        # A paired batch {"source": x, "target": x_target} (instance weighting) is
        # called as its source half: Keras builds the metrics on a training batch.
        source, _ = steps.common.split_batch(inputs)
        return super().__call__(source, *args, **kwargs)

    def per_example_loss(self, y, logits):
        """Cross-entropy of each example, shape `(batch,)`: the transfer step's L_i."""
        return smoothed_crossentropy(y, logits, getattr(self, "_label_smoothing", 0.0))

    def preprocess_samples(self, x, y=None, sample_weight=None):
        """Preprocesses raw strings; passes already preprocessed (dict) batches through."""
        if isinstance(x, dict):
            return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
        return super().preprocess_samples(x, y=y, sample_weight=sample_weight)

    def embed(self, x, training=False):
        """The token embeddings of a preprocessed batch `x` (the perturbation point)."""
        return self._path.embed(x["token_ids"], training=training)

    def classify_embeddings(self, embeddings, x, training=False):
        """`(logits, features)` from (possibly perturbed) `embeddings` of batch `x`."""
        inputs = [embeddings, *(x[name] for name in self._path.input_names)]
        return self.head(self._path.encode(inputs, training=training), training=training)

    def classify(self, x, training=False):
        """`(logits, features)` of a preprocessed batch `x`."""
        return self.classify_embeddings(self.embed(x, training), x, training)

    def compile(
        self,
        optimizer="auto",
        loss="auto",
        *,
        metrics="auto",
        learning_rate=5e-5,
        weight_decay=0.01,
        transfer=None,
        label_smoothing=0.0,
        **kwargs,
    ):
        """keras-hub defaults: AdamW, cross-entropy on logits, accuracy.

        `transfer`: a `keras_clx.training.steps.TransferConfig` (perturbation and/or
        instance weighting). Its step trains on `per_example_loss` (the compiled
        `loss` then serves evaluation only); `None` keeps Keras's step.
        `label_smoothing`: ε of the training loss (`keras_clx.training.losses`).
        """
        self._label_smoothing = float(label_smoothing)
        if optimizer == "auto":
            optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay)
        if loss == "auto":
            loss = (
                SmoothedSparseCrossentropy(label_smoothing)
                if label_smoothing
                else keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            )
        if metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
        self._transfer = steps.make_transfer_step(self, transfer)

    @property
    def transfer(self):
        """The `TransferStep` set by `compile(transfer=...)` (config, trackers), or `None`: Keras's step."""
        return getattr(self, "_transfer", None)

    def train_step(self, *args):
        """Keras's step, or the transfer step configured by `compile(transfer=...)`."""
        if self.transfer is None:
            return super().train_step(*args)
        return self.transfer.train_step(self, *args)

    def make_train_function(self, force=False):
        previous = self.train_function
        out = super().make_train_function(force)
        if self.transfer is not None and self.train_function is not previous:
            self.train_function = self.transfer.wrap_train_function(self, self.train_function)
        return out

    def test_step(self, *args):
        # The transfer step's trackers (clean_loss, adv_loss, ...) stay out of `val_` logs.
        out = super().test_step(*args)
        transfer = self.transfer
        if transfer is None:
            return out
        logs, state = out if keras.backend.backend() == "jax" else (out, None)
        logs = {k: v for k, v in logs.items() if k not in transfer.trackers}
        return (logs, state) if keras.backend.backend() == "jax" else logs

    @property
    def metrics(self):
        metrics = super().metrics
        transfer = self.transfer
        return metrics + transfer.metrics if transfer is not None else metrics
