"""Answers from an exported SavedModel, as `Run.predict` formats them (`keras_clx.rows`).

Needs nothing but TensorFlow and tf-text: what TF Serving answers, from Python.
"""

import json

from keras_clx.errors import ClxError
from keras_clx.rows import sequence_row, token_row
from keras_clx.serving.graph import (
    INPUT_NAME,
    METADATA_FILE,
    PAIR_INPUT_NAME,
    to_bytes,
    to_text,
)
from keras_clx.serving.layout import resolve_saved_model


def load_saved_model(path):
    """`(serving_default function, metadata dict)` of an exported SavedModel."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tf-text ops of the graph)

    path = resolve_saved_model(path)
    try:
        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    except (OSError, ValueError, KeyError) as error:
        raise ClxError(f"cannot load the SavedModel {path}: {error}") from None
    metadata_file = path / METADATA_FILE
    metadata = json.loads(metadata_file.read_text()) if metadata_file.is_file() else {}
    if "task" not in metadata:
        _, inputs = signature.structured_input_signature
        metadata["task"] = (
            "token"
            if "span_start" in signature.structured_outputs
            else "pair"
            if PAIR_INPUT_NAME in inputs
            else "sequence"
        )
    return signature, metadata


def saved_model_task(path):
    """The task of an exported SavedModel (`sequence`, `pair`, `token` or `tagging`)."""
    return load_saved_model(path)[1]["task"]


def rows_from_outputs(texts, outputs, metadata, pairs=None):
    """One row per text (`keras_clx.rows`) from `serving_default`'s outputs."""
    rows = []
    for i, text in enumerate(texts):
        text = to_text(text)
        if metadata["task"] in ("token", "tagging"):
            n, s = int(outputs["num_words"][i]), int(outputs["num_spans"][i])
            spans = [
                (
                    int(outputs["span_start"][i][j]),
                    int(outputs["span_end"][i][j]),
                    to_text(outputs["span_label"][i][j]),
                    to_text(outputs["span_text"][i][j]),
                )
                for j in range(s)
            ]
            rows.append(
                token_row(text, map(to_text, outputs["words"][i][:n]), map(to_text, outputs["tag"][i][:n]), spans)
            )
        else:
            p = outputs["probabilities"][i]
            names = metadata.get("labels") or [str(k) for k in range(len(p))]
            rows.append(
                sequence_row(
                    text, names, p, int(outputs["label_id"][i]), text_pair=None if pairs is None else to_text(pairs[i])
                )
            )
    return rows


def predict_saved_model(path, texts, batch_size=64, pairs=None):
    """Answers of an exported SavedModel on `texts` (with `pairs`: sentence pairs;
    what TF Serving answers), as `Run.predict` formats them; `path` is a version
    directory or a model directory (its highest version)."""
    import tensorflow as tf

    signature, metadata = load_saved_model(path)
    rows = []
    for begin in range(0, len(texts), batch_size):
        chunk = texts[begin : begin + batch_size]
        inputs = {INPUT_NAME: tf.constant([to_bytes(t) for t in chunk])}
        second = None if pairs is None else pairs[begin : begin + batch_size]
        if second is not None:
            inputs[PAIR_INPUT_NAME] = tf.constant([to_bytes(t) for t in second])
        outputs = {k: v.numpy() for k, v in signature(**inputs).items()}
        rows.extend(rows_from_outputs(chunk, outputs, metadata, pairs=second))
    return rows
