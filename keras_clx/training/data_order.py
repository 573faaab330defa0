"""The order of the training data, reproducible epoch by epoch, so that a run resumes mid-epoch.

Epoch `k` visits the examples in the permutation drawn from `(seed, k)`; `epoch_stream`
chains the batches of epochs `first_epoch..epochs - 1` into one dataset, starting at
batch `first_step` of the first. A resumed fit therefore sees exactly the batches the
interrupted one had left: `fit(stream, steps_per_epoch=steps, initial_epoch=first_epoch)`
with `ShortFirstEpoch(steps - first_step)`, which ends the first epoch early.
"""

import keras
import numpy as np


def epoch_order(n, seed, epoch):
    """The permutation of `n` examples that epoch `epoch` visits."""
    return np.random.default_rng([int(seed), int(epoch)]).permutation(n)


def epoch_stream(examples, make_dataset, seed, epochs, first_epoch=0, first_step=0):
    """Batches of epochs `first_epoch..epochs - 1`, each in its own order, from batch `first_step` on.

    `make_dataset(examples)` batches a list of examples in the order given (no shuffling).
    """
    stream = None
    for epoch in range(first_epoch, epochs):
        ordered = [examples[i] for i in epoch_order(len(examples), seed, epoch)]
        ds = make_dataset(ordered)
        if epoch == first_epoch and first_step:
            ds = ds.skip(first_step)
        stream = ds if stream is None else stream.concatenate(ds)
    return stream


class ShortFirstEpoch(keras.callbacks.Callback):
    """Ends the first epoch of a resumed fit after `steps` batches (the rest of an interrupted epoch).

    Put it first among the callbacks: it clears `stop_training` at that epoch's end, before
    any other callback (early stopping) may set it.
    """

    def __init__(self, steps):
        super().__init__()
        self.steps = steps
        self._first = True
        self._seen = 0

    def on_train_batch_end(self, batch, logs=None):
        if self._first:
            self._seen += 1
            if self._seen >= self.steps:
                self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self._first:
            self._first = False
            self.model.stop_training = False
