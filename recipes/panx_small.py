"""PAN-X from scratch on a sample: 5,000 English sentences, 500 per language and split
for evaluation, a tiny BERT (2 layers, hidden 64), 3 epochs; a CPU runs it in minutes
(see `panx.py` for XTREME's settings)."""

from keras_clx import base_recipe


def get_recipe():
    recipe = base_recipe(__file__, "panx", "PAN-X entities from scratch on a sample, en -> 7 languages")
    recipe.data.max_train_examples = 5000
    recipe.data.max_eval_examples = 500
    recipe.model.backbone = "bert_tiny"
    recipe.model.sequence_length = 64
    recipe.model.vocabulary_size = 8000
    recipe.train.learning_rate = 1e-3
    recipe.train.epochs = 3
    return recipe
