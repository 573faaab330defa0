"""PAN-X (WikiANN) named entities (PER, ORG, LOC; IOB2), en -> de, es, fr, hi, ja, ru, zh.

Files: XTREME's `panx/{train,dev,test}-<lang>.tsv` (`word<TAB>tag`, a blank line
between sentences; the `en:` word prefixes of the raw release are removed), see
`keras-clx download panx` for how to obtain them. Scored by entity F1 (exact match,
seqeval's default), overall and per type (`f1_<type>` in `report.json`).

XTREME's baseline (`scripts/train_panx.sh`): lr 2e-5, batch 32, maximum length 128,
10 epochs:

    keras-clx fit recipes/panx.py --set model.backbone=xlm_roberta_base_multi \\
        --set train.learning_rate=2e-5
    keras-clx fit recipes/panx.py --set model.backbone=/path/to/hf/bert-base-multilingual-cased \\
        --set train.learning_rate=2e-5

The default backbone is a small BERT trained from scratch (lr 3e-4), so that the
recipe runs offline; `panx_small.py` trains on a sample a CPU handles in minutes.
Other CoNLL files (CoNLL-2002/2003, UD POS with `data.task=tagging`) go through the
`conll` dataset: `data.options.files = {lang: {split: path}}`.
"""

from keras_clx import Recipe


def get_recipe():
    recipe = Recipe(description="PAN-X named entities, en -> de, es, fr, hi, ja, ru, zh")
    recipe.data.dataset = "panx"
    recipe.data.task = "token"
    recipe.data.sources = ["en"]
    recipe.data.targets = ["de", "es", "fr", "hi", "ja", "ru", "zh"]
    recipe.model.backbone = "bert_small"
    recipe.model.sequence_length = 128
    recipe.model.vocabulary_size = 30000
    recipe.train.batch_size = 32
    recipe.train.learning_rate = 3e-4
    recipe.train.epochs = 10
    return recipe
