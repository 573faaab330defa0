"""Intent classification on MTOD, en -> es, th, with zero-shot instance weighting (paper 004, §2.2).

Every English batch is paired with a batch of unlabelled Spanish and Thai
utterances (the targets' train splits, labels unused, cycled); each English
utterance is weighted by its summed cosine score (cos + 1)/2 against that target
batch, the weights normalised to sum 1 over the batch, and the loss is Σ w_i L_i
(the weights are constants for the gradient). Other scores:
`--set train.instance_weighting=euclidean` or `coral` (see docs/training.md).

The default runs offline: the small from-scratch BERT of `mtod.py` (4 layers,
hidden 256; batch 32, lr 3e-4, 3 epochs). Paper 004 fine-tunes multilingual BERT
or XLM-R, e.g. `--set model.backbone=bert_base_multi --set train.learning_rate=2e-5`.
The shared copy lacks `en/train-en.tsv`: English trains on `eval-en.tsv` (10% held
out as dev).
"""

from keras_clx import base_recipe


def get_recipe():
    recipe = base_recipe(__file__, "mtod", "MTOD intents, en -> es, th (zero-shot instance weighting, paper 004)")
    recipe.train.instance_weighting = "cosine"
    return recipe
