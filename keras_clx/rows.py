"""The row format of predictions: one JSON-able dict per text.

Shared by `Run.predict` (`tasks.py`) and `serving.client.predict_saved_model`,
so that a run and its SavedModel answer alike. Plain Python: no Keras here.
"""


def sequence_row(text, names, probabilities, label_id, text_pair=None):
    """`{"text"[, "text_pair"], "label", "probability", "probabilities"}`: the label
    `names[label_id]`, its probability and every class's, by name."""
    probabilities = [float(p) for p in probabilities]
    return {
        "text": text,
        **({"text_pair": text_pair} if text_pair is not None else {}),
        "label": names[label_id],
        "probability": probabilities[label_id],
        "probabilities": dict(zip(names, probabilities)),
    }


def token_row(text, words, tags, spans):
    """`{"text", "words", "tags", "spans"}`: one tag per word; `spans` are
    `(start, end, label, text)` with character offsets into `text`."""
    return {
        "text": text,
        "words": list(words),
        "tags": list(tags),
        "spans": [{"start": start, "end": end, "label": label, "text": span} for start, end, label, span in spans],
    }
