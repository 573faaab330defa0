"""Task kinds: what differs between sequence and token classification in a run.

A `TaskKind` builds the classifier, its tf.data pipeline, scores a split and
formats predictions; `experiment.py` is written once against this interface.
"""

import numpy as np

from keras_clx.data.pipeline import labeled_dataset, text_dataset
from keras_clx.evaluation.metrics import accuracy, macro_f1
from keras_clx.models.sequence_classifier import SequenceClassifier


def softmax(logits):
    logits = np.asarray(logits, dtype="float64")
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


class SequenceTask:
    """One label per text; accuracy and macro-F1."""

    name = "sequence"
    metric_names = ["accuracy", "macro_f1"]
    primary_metric = "accuracy"

    def labels(self, corpus):
        return corpus.labels

    def build_model(self, backbone, preprocessor, labels, model_config):
        return SequenceClassifier(
            backbone, num_classes=len(labels), preprocessor=preprocessor, dropout=model_config.dropout
        )

    def dataset(self, examples, labels, preprocessor, batch_size, shuffle=False, seed=0):
        return labeled_dataset(examples, labels, preprocessor, batch_size, shuffle=shuffle, seed=seed)

    def predict_proba(self, model, examples, batch_size, verbose=0):
        ds = text_dataset(examples, model.preprocessor, batch_size)
        return softmax(model.predict(ds, verbose=verbose))

    def score(self, model, examples, labels, batch_size, verbose=0):
        y_true = np.asarray(labels.encode(examples))
        y_pred = self.predict_proba(model, examples, batch_size, verbose).argmax(-1)
        return {"accuracy": accuracy(y_true, y_pred), "macro_f1": macro_f1(y_true, y_pred)}

    def predict(self, model, examples, labels, batch_size, verbose=0):
        """One dict per text: label, its probability and every class probability."""
        probabilities = self.predict_proba(model, examples, batch_size, verbose)
        return [
            {
                "text": e.text,
                "label": labels.names[int(p.argmax())],
                "probability": float(p.max()),
                "probabilities": {n: float(v) for n, v in zip(labels.names, p)},
            }
            for e, p in zip(examples, probabilities)
        ]


TASKS = {"sequence": SequenceTask()}


def get_task(name):
    from keras_clx.errors import RecipeError

    if name not in TASKS:
        raise RecipeError(f"data.task must be one of {sorted(TASKS)}, got {name!r}")
    return TASKS[name]
