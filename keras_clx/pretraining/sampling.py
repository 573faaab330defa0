"""Per-language sampling for multilingual masked-LM pretraining.

Exponentiated sampling (Conneau & Lample 2019; XLM-R): language `l` with `n_l`
texts is drawn with probability

    p_l = n_l ** alpha / sum_k n_k ** alpha

`alpha = 1` samples in proportion to the data, `alpha = 0` uniformly over
languages; smaller values up-sample low-resource languages. The default is
0.7 (XLM, mBERT-like); XLM-R uses 0.3 over 100 languages.
"""

import numpy as np

from keras_clx.errors import ClxError


def sampling_rates(counts, alpha=0.7):
    """`{language: p_l}` for `{language: n_l}` (languages without text get 0)."""
    if alpha < 0:
        raise ClxError(f"model.pretrain.alpha must be >= 0, got {alpha}")
    weights = {lang: float(n) ** alpha if n > 0 else 0.0 for lang, n in counts.items()}
    total = sum(weights.values())
    if total <= 0:
        raise ClxError("no text to pretrain on: every language is empty")
    return {lang: w / total for lang, w in weights.items()}


def sample_epoch(counts, rates, size, rng):
    """`size` draws `(language, index)`: a language by `rates`, then a text uniformly.

    Returns two arrays: language positions (in `counts` order) and text indices.
    """
    languages = list(counts)
    probabilities = np.array([rates[lang] for lang in languages], dtype="float64")
    chosen = rng.choice(len(languages), size=size, p=probabilities / probabilities.sum())
    sizes = np.array([counts[lang] for lang in languages])
    indices = np.floor(rng.random(size) * sizes[chosen]).astype("int64")
    return chosen, indices
