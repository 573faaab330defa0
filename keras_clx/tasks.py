"""Task kinds: what differs between sequence and token classification in a run.

A `TaskKind` builds the classifier, its tf.data pipeline, scores a split and
formats predictions; `experiment.py` is written once against this interface.
"""

import numpy as np

from keras_clx.data import iob
from keras_clx.data.pipeline import labeled_dataset, predict_texts
from keras_clx.data.token_pipeline import (
    encode_texts,
    example_words,
    gold_word_tags,
    token_dataset,
    token_text_dataset,
)
from keras_clx.errors import RecipeError
from keras_clx.evaluation.entity_f1 import (
    entity_counts,
    entity_scores,
    entity_scores_by_type,
)
from keras_clx.evaluation.metrics import accuracy, macro_f1, softmax
from keras_clx.models.sequence_classifier import SequenceClassifier
from keras_clx.models.token_classifier import TokenClassifier
from keras_clx.rows import sequence_row, token_row


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
        if not examples:
            return np.zeros((0, model.num_classes))
        texts = [e.inputs for e in examples]
        return softmax(predict_texts(model, texts, batch_size, model.preprocessor, verbose=verbose))

    def score(self, model, examples, labels, batch_size, verbose=0):
        return self.score_outcomes(model, examples, labels, batch_size, verbose)[0]

    def score_outcomes(self, model, examples, labels, batch_size, verbose=0):
        """`(metrics, outcomes)`; outcomes: per example its `ids`, `true` and `pred` label ids."""
        y_true = np.asarray(labels.encode(examples))
        y_pred = self.predict_proba(model, examples, batch_size, verbose).argmax(-1)
        metrics = {"accuracy": accuracy(y_true, y_pred), "macro_f1": macro_f1(y_true, y_pred)}
        return metrics, {"ids": np.asarray([e.id for e in examples]), "true": y_true, "pred": y_pred}

    def predict(self, model, examples, labels, batch_size, verbose=0):
        """One dict per text: label, its probability and every class probability."""
        probabilities = self.predict_proba(model, examples, batch_size, verbose)
        return [
            sequence_row(e.text, labels.names, p, int(p.argmax()), text_pair=e.text_pair)
            for e, p in zip(examples, probabilities)
        ]


class PairTask(SequenceTask):
    """One label per sentence pair (XNLI, PAWS-X): the sequence classifier over
    `[CLS] a [SEP] b [SEP]` (BERT, with segment ids) or `<s> a </s></s> b </s>` (XLM-R)."""

    name = "pair"


class TokenTask:
    """IOB tags per word (opinion target extraction); entity-level precision, recall, F1.

    `labels` is the run's vocabulary of span types (e.g. `["TARGET"]`); the
    model predicts their IOB2 tags (`iob.IOBLabels`). Inputs are tokenised word
    by word (`data/token_pipeline.py`); a word's prediction is the one at its
    first sub-word, and entities are scored by exact match (seqeval's default).
    """

    name = "token"
    metric_names = ["precision", "recall", "f1"]
    primary_metric = "f1"

    def labels(self, corpus):
        return corpus.labels

    def tags(self, labels):
        return iob.IOBLabels(labels.names)

    def build_model(self, backbone, preprocessor, labels, model_config):
        return TokenClassifier(
            backbone,
            num_classes=len(self.tags(labels)),
            preprocessor=preprocessor,
            dropout=model_config.dropout,
        )

    def dataset(self, examples, labels, preprocessor, batch_size, shuffle=False, seed=0):
        return token_dataset(examples, self.tags(labels), preprocessor, batch_size, shuffle=shuffle, seed=seed)

    def text_dataset(self, examples, preprocessor, batch_size):
        """Batches of `x` only (unlabelled text), tokenised as for training."""
        encoding = encode_texts([e.text for e in examples], preprocessor, words=[example_words(e) for e in examples])
        return token_text_dataset(None, preprocessor, batch_size, encoding=encoding)

    def predict_words(self, model, examples, batch_size, verbose=0):
        """Per text, `(words, probabilities)`: its `(word, start, end)` triples and a
        `(words, tags)` array of tag probabilities at each word's first sub-word
        (a word cut off by truncation gets probability 1 for `O`)."""
        if not examples:
            return []
        encoding = encode_texts(
            [e.text for e in examples], model.preprocessor, words=[example_words(e) for e in examples]
        )
        ds = token_text_dataset(None, model.preprocessor, batch_size, encoding=encoding)
        probabilities = softmax(model.predict(ds, verbose=verbose))
        outside = np.eye(probabilities.shape[-1])[0]
        return [
            (words, np.asarray(iob.subword_predictions_to_words(p, counts, fill=outside)).reshape(-1, len(outside)))
            for words, counts, p in zip(encoding.words, encoding.subword_counts, probabilities)
        ]

    def predict_tags(self, model, examples, labels, batch_size, verbose=0):
        """Per text, `(words, tags)` with one predicted IOB2 tag per word."""
        tags = self.tags(labels)
        return [
            (words, tags.decode(p.argmax(-1).tolist()))
            for words, p in self.predict_words(model, examples, batch_size, verbose)
        ]

    def score(self, model, examples, labels, batch_size, verbose=0):
        return self.score_outcomes(model, examples, labels, batch_size, verbose)[0]

    def score_outcomes(self, model, examples, labels, batch_size, verbose=0):
        """`(metrics, outcomes)`: entity P/R/F1 overall and F1 per type (`f1_<type>`);
        outcomes per text: its `ids` and entity `tp`, `fp`, `fn` counts."""
        gold = [gold_word_tags(e)[1] for e in examples]
        predicted = [t for _, t in self.predict_tags(model, examples, labels, batch_size, verbose)]
        scores = entity_scores(gold, predicted)
        per_type = {f"f1_{kind}": s["f1"] for kind, s in entity_scores_by_type(gold, predicted).items()}
        counts = entity_counts(gold, predicted)
        outcomes = {
            "ids": np.asarray([e.id for e in examples]),
            "tp": counts[:, 0],
            "fp": counts[:, 1],
            "fn": counts[:, 2],
        }
        return {**{name: scores[name] for name in self.metric_names}, **per_type}, outcomes

    def predict(self, model, examples, labels, batch_size, verbose=0):
        """One dict per text: its words, one tag per word and the predicted spans
        (`start`, `end` character offsets, `label`, `text`)."""
        return [
            token_row(
                e.text,
                [w for w, _, _ in words],
                tags,
                [(s.start, s.end, s.label, e.text[s.start : s.end]) for s in iob.tags_to_spans(words, tags)],
            )
            for e, (words, tags) in zip(examples, self.predict_tags(model, examples, labels, batch_size, verbose))
        ]


class TaggingTask(TokenTask):
    """One plain tag per word without IOB structure (UD POS); accuracy over words.

    The run's labels are the tags themselves (`iob.PlainTags`); training,
    prediction and export share the token task's word-aligned pipeline.
    """

    name = "tagging"
    metric_names = ["accuracy"]
    primary_metric = "accuracy"

    def tags(self, labels):
        return iob.PlainTags(labels.names)

    def score_outcomes(self, model, examples, labels, batch_size, verbose=0):
        """`(metrics, outcomes)`: accuracy over words; outcomes per text: its `ids`, and
        its `correct` and total `words`."""
        gold = [gold_word_tags(e)[1] for e in examples]
        predicted = [t for _, t in self.predict_tags(model, examples, labels, batch_size, verbose)]
        correct = np.asarray([sum(g == p for g, p in zip(gs, ps)) for gs, ps in zip(gold, predicted)], "int64")
        words = np.asarray([len(gs) for gs in gold], "int64")
        metrics = {"accuracy": float(correct.sum() / words.sum()) if words.sum() else 0.0}
        return metrics, {"ids": np.asarray([e.id for e in examples]), "correct": correct, "words": words}

    def predict(self, model, examples, labels, batch_size, verbose=0):
        """One dict per text: its words and one tag per word (`spans` empty)."""
        return [
            token_row(e.text, [w for w, _, _ in words], tags, [])
            for e, (words, tags) in zip(examples, self.predict_tags(model, examples, labels, batch_size, verbose))
        ]


TASKS = {"sequence": SequenceTask(), "pair": PairTask(), "token": TokenTask(), "tagging": TaggingTask()}


def get_task(name):
    if name not in TASKS:
        raise RecipeError(f"data.task must be one of {sorted(TASKS)}, got {name!r}")
    return TASKS[name]
