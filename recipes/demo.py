"""Embedded demo: synthetic source language -> near / mid / far targets, tiny BERT from scratch."""

from keras_clx import Recipe


def get_recipe():
    recipe = Recipe(description="Demo corpus (embedded, synthetic): source -> near, mid, far")
    recipe.data.dataset = "demo"
    recipe.data.sources = ["source"]
    recipe.data.targets = ["near", "mid", "far"]
    recipe.data.options = {"unlabeled_gold": True}  # only for the pseudo-label accuracy of self-training
    recipe.model.backbone = "bert_tiny"
    recipe.model.sequence_length = 32
    recipe.train.batch_size = 32
    recipe.train.learning_rate = 1e-3
    recipe.train.epochs = 4
    return recipe
