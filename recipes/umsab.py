"""Tweet sentiment (negative / neutral / positive) on UMSAB (XLM-T): English -> 7 languages.

Plain fine-tuning baseline on real data. Source English (1,839 training tweets,
balanced), targets Arabic, French, German, Hindi, Italian, Portuguese and Spanish,
whose training tweets serve as unlabelled target text. The default is a tiny BERT
trained from scratch (vocabulary learned from the English and unlabelled target
tweets), sized to run in a minute or two on a CPU. The transfer methods:

    keras-clx fit recipes/umsab.py --set train.perturbation=adversarial   # ε = 0.05·‖e‖
    keras-clx fit recipes/umsab.py --set train.instance_weighting=cosine

With multilingual BERT: `--set model.backbone=bert_base_multi --set
model.sequence_length=128 --set train.learning_rate=2e-5`.
"""

from keras_clx import Recipe


def get_recipe():
    recipe = Recipe(description="UMSAB tweet sentiment, english -> 7 languages (fine-tuning baseline)")
    recipe.data.dataset = "umsab"
    recipe.data.sources = ["english"]
    recipe.data.targets = ["arabic", "french", "german", "hindi", "italian", "portuguese", "spanish"]
    recipe.model.backbone = "bert_tiny"
    recipe.model.sequence_length = 64
    recipe.model.vocabulary_size = 8000
    recipe.train.batch_size = 32
    recipe.train.learning_rate = 2e-3
    recipe.train.epochs = 6
    return recipe
