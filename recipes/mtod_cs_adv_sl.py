"""MTOD intents, en -> es, th: code-switching + adversarial training + self-training.

`mtod_cs.py` (MUSE code-switching, challenge sets) with paper 000's two methods on
top: the token embeddings pushed by r = ε·g/‖g‖₂ (ε = 0.25, about 20% of a
from-scratch tiny BERT's per-utterance embedding norm; ε = 1.0 wrecks English
there, see the engineering guide), and class-balanced self-training on the
targets' unlabelled train utterances (Kt = 30 per intent and round, 2 epochs
per round, at most 3 rounds, stop after 2 rounds without target-dev gain).
Code-switching only changes the English training text; pseudo-labelled
Spanish and Thai utterances are served unchanged.
"""

from keras_clx import base_recipe


def get_recipe():
    recipe = base_recipe(
        __file__, "mtod_cs", "MTOD intents, en -> es, th (code-switching + adversarial training + self-training)"
    )
    recipe.train.perturbation = "adversarial"
    recipe.train.epsilon = 0.25
    st = recipe.train.self_training
    st.enabled = True
    st.k_per_class = 30
    st.epochs_per_round = 2
    st.max_rounds = 3
    st.patience = 2
    st.monitor = "target_dev"
    return recipe
