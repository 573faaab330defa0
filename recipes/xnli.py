"""XNLI natural language inference (sentence pairs), en -> the 14 other languages.

Labels: entailment, neutral, contradiction (XTREME's English train file, from
MultiNLI, writes `contradictory`; it is read as `contradiction`). Files:
`xnli/{train,dev,test}-<lang>.tsv` (XTREME's layout); dev and test also come from the
official `xnli.{dev,test}.tsv` (`keras-clx download xnli`), the English train file
from MultiNLI (XTREME's `train-en.tsv`, 392,702 pairs).

XTREME's baseline (`scripts/train_xnli.sh`): lr 2e-5, batch 32, maximum length 128,
5 epochs, model selection on English dev:

    keras-clx fit recipes/xnli.py --set model.backbone=xlm_roberta_base_multi \\
        --set train.learning_rate=2e-5
    keras-clx fit recipes/xnli.py --set model.backbone=/path/to/hf/xlm-roberta-base \\
        --set train.learning_rate=2e-5

The default backbone is a small BERT trained from scratch (lr 3e-4), so that the
recipe runs offline; `xnli_small.py` trains on a sample a CPU handles in minutes.
"""

from keras_clx import Recipe

XNLI_TARGETS = ["ar", "bg", "de", "el", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"]


def get_recipe():
    recipe = Recipe(description="XNLI inference pairs, en -> 14 languages")
    recipe.data.dataset = "xnli"
    recipe.data.task = "pair"
    recipe.data.sources = ["en"]
    recipe.data.targets = list(XNLI_TARGETS)
    recipe.model.backbone = "bert_small"
    recipe.model.sequence_length = 128
    recipe.model.vocabulary_size = 30000
    recipe.train.batch_size = 32
    recipe.train.learning_rate = 3e-4
    recipe.train.epochs = 5
    return recipe
