"""XNLI from scratch on a sample: 4,000 English training pairs, 500 pairs per language
and split for evaluation, a tiny BERT (2 layers, hidden 64), 3 epochs. A CPU runs it
in minutes; the scores only show the pipeline works (see `xnli.py` for XTREME's settings)."""

from keras_clx import base_recipe


def get_recipe():
    recipe = base_recipe(__file__, "xnli", "XNLI pairs from scratch on a sample, en -> 14 languages")
    recipe.data.max_train_examples = 4000
    recipe.data.max_eval_examples = 500
    recipe.model.backbone = "bert_tiny"
    recipe.model.sequence_length = 64
    recipe.model.vocabulary_size = 8000
    recipe.train.learning_rate = 1e-3
    recipe.train.epochs = 3
    return recipe
