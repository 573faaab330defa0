"""Self-training's training data: source examples plus the pseudo-labels so far, as one growing dataset.

`TrainingData.dataset()` is a `tf.data.Dataset.from_generator` of unknown
cardinality over a Python-side list, so that one `model.fit` sees the data grow
(see `self_training.py` for why and how each epoch ends).
"""

import numpy as np

from keras_clx.data.records import Example


class TrainingData:
    """Source examples plus pseudo-labelled ones, served as whole batches per epoch."""

    def __init__(self, texts, targets, batch_size, seed):
        self.texts = list(texts)
        self.targets = targets
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0

    def __len__(self):
        return len(self.texts)

    def steps(self):
        return -(-len(self.texts) // self.batch_size)

    def add(self, texts, targets):
        self.texts = self.texts + list(texts)
        self.targets = np.concatenate([self.targets, targets.astype(self.targets.dtype)])

    def batches(self):
        """One epoch: a permutation seeded by `(seed, epoch)`, cut into full batches.

        The last batch is topped up with the epoch's first examples, so every batch
        has one shape as the data grows (JAX compiles a train step per batch shape,
        which would otherwise cost one compile per round).
        """
        texts, targets = self.texts, self.targets  # contents as of this epoch
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(texts))
        order = np.resize(order, self.steps() * self.batch_size)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            if self.pairs:  # sentence pairs: two string columns
                yield tuple(np.array([texts[i][k] for i in rows], dtype=object) for k in (0, 1)), targets[rows]
            else:
                yield np.array([texts[i] for i in rows], dtype=object), targets[rows]

    @property
    def pairs(self):
        return bool(self.texts) and isinstance(self.texts[0], tuple)

    def dataset(self, preprocessor=None):
        import tensorflow as tf

        target_shape = (None,) + self.targets.shape[1:]
        target_dtype = tf.float32 if self.targets.ndim == 2 else tf.int32
        ds = tf.data.Dataset.from_generator(
            self.batches,
            output_signature=(
                (tf.TensorSpec((None,), tf.string),) * 2 if self.pairs else tf.TensorSpec((None,), tf.string),
                tf.TensorSpec(target_shape, target_dtype),
            ),
        )
        if preprocessor is not None:
            ds = ds.map(lambda x, y: preprocessor(x, y), num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)


def pseudo_label_inputs(item):
    """A pseudo-label's model input: its text, or `(text, text_pair)` for a sentence pair."""
    return (item["text"], item["text_pair"]) if "text_pair" in item else item["text"]


def pool_examples(unlabeled):
    """The unlabelled pool as `Example`s (strings get ids by position); ids must be distinct."""
    examples = []
    for i, item in enumerate(unlabeled):
        if isinstance(item, Example):
            examples.append(item.unlabeled())
        elif isinstance(item, str):
            examples.append(Example(item, "pool", str(i)))
        else:
            raise TypeError(f"unlabeled items must be str or Example, got {type(item).__name__}")
    ids = [e.id for e in examples]
    if len(set(ids)) != len(ids):
        raise ValueError("unlabeled examples must have distinct ids")
    return examples
