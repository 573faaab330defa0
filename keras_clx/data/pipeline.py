"""tf.data pipelines: records -> preprocessed, batched `(x, y)` for the classifiers."""

import tensorflow as tf


def _texts(examples):
    return [e.text for e in examples]


def text_dataset(examples, preprocessor, batch_size):
    """Preprocessed batches of `x` only (prediction, pseudo-labelling)."""
    ds = tf.data.Dataset.from_tensor_slices(_texts(examples)).batch(batch_size)
    return ds.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


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
