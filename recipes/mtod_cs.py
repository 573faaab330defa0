"""Intent classification on MTOD, en -> es, th, with dictionary code-switching (CoSDA-ML, Qin et al. 2020).

Every batch holds its English utterances and a switched copy of each, drawn
afresh every epoch: each word with a MUSE translation is replaced with
probability 0.5 by a random translation into Spanish or Thai
(`$CLX_DATA_DIR/muse_dictionaries/dict/en-<lang>.dict`). The from-scratch
vocabulary is learned with two switched copies of the training text in it.
The report adds the code-switched challenge sets (paper 000, Table 4): the
English test set switched into each target at rate 0.5 (rows `en>es`, `en>th`,
written to `<run>/challenge/`). See docs/code_switching.md for the numbers.

Cheap settings (a tiny from-scratch BERT, lr 2e-3, 4 epochs); the baseline to
compare with is `mtod.py` with the same overrides:

    keras-clx fit recipes/mtod.py --set model.backbone=bert_tiny \\
        --set train.learning_rate=2e-3 --set train.epochs=4 --set eval.code_switched.enabled=true
"""

from keras_clx import base_recipe


def get_recipe():
    recipe = base_recipe(__file__, "mtod", "MTOD intents, en -> es, th (dictionary code-switching)")
    recipe.model.backbone = "bert_tiny"
    recipe.train.learning_rate = 2e-3
    recipe.train.epochs = 4
    cs = recipe.train.code_switch
    cs.enabled = True
    cs.dictionaries = {"es": "muse", "th": "muse"}
    cs.rate = 0.5
    cs.keep_original = True
    recipe.eval.code_switched.enabled = True
    recipe.eval.code_switched.rate = 0.5
    return recipe
