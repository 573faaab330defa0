"""MTOD intents, en -> es, th: masked-LM pretraining on en + es + th text, then fine-tuning.

`fit` first pretrains the from-scratch small BERT of `mtod.py` (vocabulary learned
from all three languages) with masked-LM on the English training utterances and the
Spanish and Thai unlabelled utterances (`train-{es,th}.tsv`, labels unused), sampling
languages with p_l ~ n_l ** 0.7, into `<run>/pretrained/`; then fine-tunes that preset
on English labels exactly as `mtod.py`. Compare with `keras-clx fit mtod`.

Pretraining alone: `keras-clx pretrain mtod_pretrain --out DIR`, then
`keras-clx fit mtod --set model.backbone=DIR`.
"""

from keras_clx.recipes import base_recipe


def get_recipe():
    recipe = base_recipe(__file__, "mtod", "MTOD intents, en -> es, th (MLM pretraining + fine-tuning)")
    recipe.model.pretrain.enabled = True
    recipe.model.pretrain.epochs = 4
    recipe.model.pretrain.batch_size = 32
    recipe.model.pretrain.learning_rate = 5e-4
    recipe.model.pretrain.alpha = 0.7
    return recipe
