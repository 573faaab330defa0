"""tf.data pipelines: records -> preprocessed, batched `(x, y)` for the classifiers,
and batched prediction over raw texts.

A sentence pair travels as a tuple `(texts, texts_pair)` of two string columns,
which keras-hub's classifier preprocessors pack as two segments (`[CLS] a [SEP] b
[SEP]` with segment ids for BERT, `<s> a </s></s> b </s>` for XLM-R), truncating
the longer side first ('round_robin') so both keep words.
"""

import keras
import numpy as np
import tensorflow as tf

from keras_clx.errors import DataError


def _texts(examples):
    return model_inputs([e.inputs for e in examples])


def model_inputs(texts):
    """A list of strings, or of `(text, text_pair)` tuples -> the column(s) tf.data slices."""
    texts = list(texts)
    if texts and isinstance(texts[0], (tuple, list)):
        return tuple(list(column) for column in zip(*texts))
    return texts


def preprocess_inputs(preprocessor):
    """A `tf.data` map function: one string column or a pair of them -> `preprocessor`'s `x`.

    `y=None` is explicit: keras-hub unpacks a lone 2-tuple argument as `(x, y)`.
    """
    return lambda *columns: preprocessor(columns if len(columns) > 1 else columns[0], y=None)


def predict_texts(model, texts, batch_size=64, preprocessor=None, verbose=0):
    """`model.predict` over raw `texts` (strings or `(text, text_pair)` tuples) in
    batches of one shape; NumPy outputs, one row per text.

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
        empty = ("", "") if isinstance(texts[0], (tuple, list)) else ""
        padded = texts + [empty] * (-len(texts) % batch_size)
    columns = model_inputs(padded)
    columns = (
        tuple(tf.constant(c, tf.string) for c in columns)
        if isinstance(columns, tuple)
        else tf.constant(columns, tf.string)
    )
    ds = tf.data.Dataset.from_tensor_slices(columns).batch(batch_size)
    if preprocessor is not None:
        ds = ds.map(preprocess_inputs(preprocessor), num_parallel_calls=tf.data.AUTOTUNE)
    outputs = model.predict(ds.prefetch(tf.data.AUTOTUNE), verbose=verbose)
    return keras.tree.map_structure(lambda a: np.asarray(a)[: len(texts)], outputs)


def labeled_dataset(examples, labels, preprocessor, batch_size, shuffle=False, seed=0, sample_weight=None):
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

    texts = [e if isinstance(e, (str, tuple)) else e.inputs for e in target_examples]
    if not texts:
        raise DataError("no unlabelled target text to pair with the source batches")
    target = tf.data.Dataset.from_tensor_slices(model_inputs(texts))
    target = target.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True).repeat()
    target = target.batch(batch_size, drop_remainder=True).skip(skip_batches)
    target = target.map(preprocess_inputs(preprocessor), num_parallel_calls=tf.data.AUTOTUNE)

    def pair(source, target_x):
        source = source if isinstance(source, tuple) else (source,)
        return ({"source": source[0], "target": target_x}, *source[1:])

    return tf.data.Dataset.zip((source_ds, target)).map(pair).prefetch(tf.data.AUTOTUNE)
