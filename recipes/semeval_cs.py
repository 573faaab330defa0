"""Opinion target extraction on SemEval-2016 restaurants, en -> es, fr, nl, ru, tr, with code-switching.

`semeval_iw.py`'s data and model without instance weighting, plus dictionary
code-switching of the English training sentences with the MUSE dictionaries
(every target language; each batch holds its sentences and a switched copy of
each, re-drawn every epoch). IOB tags follow the switched words: an opinion
target `goat cheese` may become `chèvre fromage de chèvre` tagged `B I I I`.
The report adds the code-switched challenge sets (`en>es`, ... role `challenge`).
With `--set model.backbone=bert_tiny`, 3 seeds: target-average F1 12.7 without
switching, 30.6 with it (docs/code_switching.md). Instance weighting composes:
`--set train.instance_weighting=cosine`.
"""

from keras_clx import base_recipe


def get_recipe():
    recipe = base_recipe(
        __file__, "semeval_iw", "SemEval-2016 opinion targets, en -> es, fr, nl, ru, tr (dictionary code-switching)"
    )
    recipe.train.instance_weighting = "none"
    cs = recipe.train.code_switch
    cs.enabled = True
    cs.dictionaries = {lang: "muse" for lang in recipe.data.targets}
    cs.rate = 0.5
    recipe.eval.code_switched.enabled = True
    return recipe
