"""tf.data pipelines: records -> preprocessed, batched `(x, y)` for the classifiers,
and batched prediction over raw texts."""

import keras
import numpy as np
import tensorflow as tf


def _texts(examples):
    return [e.text for e in examples]


def predict_texts(model, texts, batch_size=64, preprocessor=None, verbose=0):
    """`model.predict` over raw `texts` in batches of one shape; NumPy outputs, one row per text.

    On JAX the last batch is padded with empty strings (their rows are dropped), so
    that a pool that shrinks every round reuses one compiled predict step instead of
    compiling one per remainder; the other backends run a short last batch (padding
    would be wasted work there). `preprocessor` (e.g. the model's) runs in tf.data.
    """
    texts = list(texts)
    if not texts:
        raise ValueError("predict_texts needs at least one text")
    padded = texts
    if keras.backend.backend() == "jax":
        padded = texts + [""] * (-len(texts) % batch_size)
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(padded, tf.string)).batch(batch_size)
    if preprocessor is not None:
        ds = ds.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)
    outputs = model.predict(ds.prefetch(tf.data.AUTOTUNE), verbose=verbose)
    return keras.tree.map_structure(lambda a: np.asarray(a)[: len(texts)], outputs)


def labeled_dataset(
    examples, labels, preprocessor, batch_size, shuffle=False, seed=0, sample_weight=None
):
    """Preprocessed `(x, y[, sample_weight])` batches of sequence-labelled `examples`.

    Shuffling reshuffles every epoch from `seed`, so a run is reproducible.
    """
    y = labels.encode(examples)
    columns = (_texts(examples), y) if sample_weight is None else (_texts(examples), y, sample_weight)
    ds = tf.data.Dataset.from_tensor_slices(columns)
    if shuffle:
        ds = ds.shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    ds = ds.map(lambda *batch: preprocessor(*batch), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def paired_dataset(source_ds, target_examples, preprocessor, batch_size, seed=0, skip_batches=0):
    """Pairs every source batch with a batch of unlabelled target text (instance weighting).

    Yields `({"source": x, "target": x_target}, y[, sample_weight])`. The target
    texts (`Example`s or strings) are shuffled from `seed`, reshuffled on every
    pass and cycled, so each source batch, in every epoch, meets `batch_size`
    target texts; `preprocessor` maps a batch of strings to model inputs.
    `skip_batches`: start that many batches into the target stream (a resumed run).
    """
    from keras_clx.errors import DataError

    texts = [e if isinstance(e, str) else e.text for e in target_examples]
    if not texts:
        raise DataError("no unlabelled target text to pair with the source batches")
    target = tf.data.Dataset.from_tensor_slices(texts)
    target = target.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True).repeat()
    target = target.batch(batch_size, drop_remainder=True).skip(skip_batches)
    target = target.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)

    def pair(source, target_x):
        source = source if isinstance(source, tuple) else (source,)
        return ({"source": source[0], "target": target_x}, *source[1:])

    return tf.data.Dataset.zip((source_ds, target)).map(pair).prefetch(tf.data.AUTOTUNE)
