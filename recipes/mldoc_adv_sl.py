"""MLDoc topics, en -> de, es, fr, it, ja, ru, zh: adversarial training + self-training (paper 000, full method).

Paper 000's MLDoc setting (Table 2): Kt = 50 pseudo-labels per predicted topic
and round, 5 epochs per round (and before the first round), ε = 1.0 for the
adversarial perturbation of the token embeddings (Eq. 1-2), sequence length
96, batch size 64, early stopping when the target-language dev accuracy has
not improved for 2 rounds (`--set train.self_training.monitor=source_dev` is
the strict zero-shot variant). Each target's 1,000 training documents are its
unlabelled pool (balanced per language); the paper runs one target at a time
(`--set data.targets=de`) and uses ε = 10 for Japanese.

MLDoc is built from the Reuters corpora RCV1/RCV2 (a signed agreement; see
`keras-clx download mldoc`): files `mldoc/<language>.{train.1000,dev,test}`
under the data directory.

Default backbone: a small BERT trained from scratch (runs offline). The paper
fine-tunes multilingual BERT with lr 2e-5:

    keras-clx fit recipes/mldoc_adv_sl.py --set model.backbone=bert_base_multi \\
        --set train.learning_rate=2e-5
"""

from keras_clx import base_recipe


def get_recipe():
    recipe = base_recipe(
        __file__, "mldoc_adv", "MLDoc topics, en -> de, es, fr, it, ja, ru, zh (adversarial + self-training, paper 000)"
    )
    recipe.train.epochs = 5  # K: round 0 (source only)
    st = recipe.train.self_training
    st.enabled = True
    st.k_per_class = 50  # Kt
    st.epochs_per_round = 5  # K
    st.max_rounds = 5
    st.patience = 2
    st.monitor = "target_dev"
    return recipe
