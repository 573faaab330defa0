"""Intent classification on MTOD, en -> es, th, with adversarial training (paper 000, Eq. 1-2).

Each step also trains on the token embeddings pushed by r = ε·g/‖g‖₂ (g the loss
gradient at the embeddings; one norm per utterance, padding excluded), on top of
the clean loss (`train.clean_weight=1`, as the paper's reference code). The
paper's random-noise baseline: `--set train.perturbation=random`.

Paper 000's intent (CLIC) hyper-parameters (Table 2) are for multilingual BERT:
sequence length 32, batch 128, lr 2e-6, 6 epochs, ε = 1.0:

    keras-clx fit recipes/mtod_adv.py --set model.backbone=bert_base_multi \\
        --set train.batch_size=128 --set train.learning_rate=2e-6

The default runs offline: the small BERT of `mtod.py` (4 layers, hidden 256)
trained from scratch on the English utterances, with that recipe's batch size and
learning rate (batch 32, lr 3e-4; lr 2e-6 barely moves randomly initialised
weights), the paper's 6 epochs, sequence length 32 and ε = 1.0. The shared copy
lacks `en/train-en.tsv`: English trains on `eval-en.tsv` (10% held out as dev).
"""

from keras_clx import base_recipe


def get_recipe():
    recipe = base_recipe(__file__, "mtod", "MTOD intents, en -> es, th (adversarial training, paper 000)")
    recipe.train.epochs = 6
    recipe.train.perturbation = "adversarial"
    recipe.train.epsilon = 1.0
    recipe.train.epsilon_mode = "absolute"  # the paper's ε, an L2 norm tuned for mBERT
    recipe.train.perturbation_norm = "example"
    recipe.train.clean_weight = 1.0
    return recipe
