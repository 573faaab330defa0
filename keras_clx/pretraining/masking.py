"""BERT masking in numpy: deterministic given a `numpy.random.Generator`.

Per text, `max(1, round(rate * n))` of its `n` maskable tokens (not special, not
padding) are predicted, as in BERT's reference code; each is replaced by the mask
token (80 %), a random ordinary token (10 %) or kept (10 %). Unlike keras-hub's
`MaskedLMMaskGenerator` (TF random ops), the same seed gives the same masks on
every backend, which is what makes resumed pretraining reproducible.
"""

import math

import numpy as np


def max_predictions(sequence_length, rate):
    return max(1, math.ceil(rate * sequence_length))


def mask_tokens(token_ids, padding_mask, rng, *, rate, mask_token_id, special_ids, vocabulary_size):
    """Returns `(token_ids, mask_positions, mask_ids, mask_weights)` for a batch."""
    token_ids = np.array(token_ids, dtype="int32")
    rows, length = token_ids.shape
    width = max_predictions(length, rate)
    maskable = np.asarray(padding_mask, bool) & ~np.isin(token_ids, list(special_ids))
    keys = rng.random((rows, length))
    keys[~maskable] = 2.0  # sorted after every maskable position
    positions = np.argsort(keys, axis=1, kind="stable")[:, :width].astype("int32")
    count = maskable.sum(axis=1)
    chosen = np.where(count > 0, np.clip(np.rint(rate * count), 1, width), 0)
    weights = (np.arange(width)[None, :] < chosen[:, None]).astype("float32")
    row_index = np.arange(rows)[:, None]
    mask_ids = token_ids[row_index, positions]

    ordinary = np.setdiff1d(np.arange(vocabulary_size), list(special_ids) + [mask_token_id])
    action = rng.random((rows, width))
    random_ids = ordinary[rng.integers(0, len(ordinary), (rows, width))]
    replaced = np.where(action < 0.8, mask_token_id, np.where(action < 0.9, random_ids, mask_ids))
    new_ids = np.where(weights > 0, replaced, mask_ids).astype("int32")
    token_ids[row_index, positions] = new_ids
    return token_ids, positions, mask_ids.astype("int32"), weights
