"""Intent classification on MTOD, en -> es, th: adversarial training + self-training (paper 000, full method).

Paper 000's CLIC setting (Table 2): Kt = 30 pseudo-labels per predicted intent
and round, 6 epochs per round (and before the first round), ε = 1.0 for the
adversarial perturbation of the token embeddings (Eq. 1-2), early stopping
when the target-language dev accuracy has not improved for 2 rounds (the
paper's criterion; `--set train.self_training.monitor=source_dev` is the
strict zero-shot variant). The targets' train splits (3,617 Spanish and 2,156
Thai utterances) are the unlabelled pool, balanced per language; the paper
runs one target at a time (`--set data.targets=es`).

Default backbone: the small from-scratch BERT of `mtod.py` (runs offline). The
paper fine-tunes multilingual BERT with lr 2e-6, batch 128, sequence length 32:

    keras-clx fit recipes/mtod_adv_sl.py --set model.backbone=bert_base_multi \\
        --set train.learning_rate=2e-6 --set train.batch_size=128

The shared copy lacks `en/train-en.tsv`: English trains on `eval-en.tsv`
(10% held out as dev), as in `mtod.py`.
"""

from keras_clx import base_recipe


def get_recipe():
    recipe = base_recipe(
        __file__, "mtod_adv", "MTOD intents, en -> es, th (adversarial training + self-training, paper 000)"
    )
    recipe.train.epochs = 6  # K: round 0 (source only)
    st = recipe.train.self_training
    st.enabled = True
    st.k_per_class = 30  # Kt
    st.epochs_per_round = 6  # K
    st.max_rounds = 5
    st.patience = 2
    st.monitor = "target_dev"
    return recipe
