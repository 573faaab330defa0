"""`fit` with `model.pretrain.enabled`: pretrain into the run's `pretrained/`, fine-tune from it."""

import copy

from keras_clx.pretraining.masked_lm import fingerprint, pretrain, read_state
from keras_clx.pretraining.texts import recipe_texts

PRETRAINED_DIR = "pretrained"


def pretrain_before_fit(recipe, corpus, directory, verbose=1):
    """The recipe to fine-tune: unchanged, or (when enabled) a copy whose backbone is the
    preset pretrained on `corpus` in `directory/pretrained` (an interrupted or finished
    pretraining with the same settings is resumed, other settings start again)."""
    if not recipe.model.pretrain.enabled:
        return recipe
    target = directory / PRETRAINED_DIR
    texts = recipe_texts(recipe, corpus)
    state = read_state(target)
    stale = state is not None and state["fingerprint"] != fingerprint(recipe, texts)
    pretrain(recipe, target, texts=texts, resume=not stale, overwrite=stale, verbose=verbose)
    tuned = copy.deepcopy(recipe)
    tuned.model.backbone = str(target)
    return tuned
