"""MLDoc topics, en -> de, es, fr, it, ja, ru, zh, with adversarial training (paper 000, Eq. 1-2).

Each step also trains on the token embeddings pushed by r = ε·g/‖g‖₂ (one norm
per document, padding excluded), on top of the clean loss (`train.clean_weight=1`).
The paper's random-noise baseline: `--set train.perturbation=random`.

Paper 000's MLDoc hyper-parameters (Table 2) are for multilingual BERT: sequence
length 96, batch 64, lr 2e-5, 5 epochs, ε = 1.0 (the paper uses ε = 10 for
Japanese: run it alone with `--set data.targets=ja --set train.epsilon=10`):

    keras-clx fit recipes/mldoc_adv.py --set model.backbone=bert_base_multi

The default keeps those values except the backbone and learning rate: a small
BERT (4 layers, hidden 256) trained from scratch, so that the recipe runs offline,
with lr 3e-4 (2e-5 is a fine-tuning rate). MLDoc is built from the Reuters corpora
RCV1/RCV2 (a signed agreement; see `keras-clx download mldoc`): files
`mldoc/<language>.{train.1000,dev,test}` under the data directory.
"""

from keras_clx import Recipe


def get_recipe():
    recipe = Recipe(description="MLDoc topics, en -> de, es, fr, it, ja, ru, zh (adversarial training, paper 000)")
    recipe.data.dataset = "mldoc"
    recipe.data.sources = ["en"]
    recipe.data.targets = ["de", "es", "fr", "it", "ja", "ru", "zh"]
    recipe.data.options = {"train_size": 1000}
    recipe.model.backbone = "bert_small"
    recipe.model.sequence_length = 96
    recipe.model.vocabulary_size = 16000
    recipe.train.batch_size = 64
    recipe.train.learning_rate = 3e-4
    recipe.train.epochs = 5
    recipe.train.perturbation = "adversarial"
    recipe.train.epsilon = 1.0
    recipe.train.epsilon_mode = "absolute"  # the paper's ε, an L2 norm tuned for mBERT
    return recipe
