"""Intent classification on multilingual task-oriented dialog (Schuster et al., 2019): en -> es, th.

Plain fine-tuning baseline. The shared copy lacks `en/train-en.tsv`, so English
trains on `eval-en.tsv` (10% held out as dev). With a pretrained preset
(`--set model.backbone=bert_base_multi`) use lr 2e-5; the default is a small
from-scratch BERT that runs offline.
"""

from keras_clx import Recipe


def get_recipe():
    recipe = Recipe(description="MTOD intents, en -> es, th (fine-tuning baseline)")
    recipe.data.dataset = "mtod"
    recipe.data.sources = ["en"]
    recipe.data.targets = ["es", "th"]
    recipe.data.options = {"source_train_split": "eval", "dev_fraction": 0.1}
    recipe.model.backbone = "bert_small"
    recipe.model.sequence_length = 32
    recipe.model.vocabulary_size = 8000
    recipe.train.batch_size = 32
    recipe.train.learning_rate = 3e-4
    recipe.train.epochs = 3
    return recipe
