"""PAWS-X from scratch on the shared dev-only copy: a CPU runs it in minutes.

Reads `pawsx_dev/dev-<lang>.tsv` under the data directory (`data.options.folder`;
`--data-dir` or `CLX_DATA_DIR`). Without a train file each language's 2,000
dev pairs are split in half: English trains on 1,000 (100 of them as dev), every
language is tested on its held-out 1,000. A tiny BERT (2 layers, hidden 64) with a
WordPiece vocabulary learned from the training and unlabelled text, sequence
length 64, 3 epochs. Expect near-chance accuracy: paraphrase adversaries need a
pretrained encoder (see `pawsx.py` for XTREME's settings).
"""

from keras_clx import base_recipe


def get_recipe():
    recipe = base_recipe(__file__, "pawsx", "PAWS-X pairs from scratch on the dev-only copy, en -> 6 languages")
    recipe.data.options = {"folder": "pawsx_dev", "train_fraction": 0.5, "dev_fraction": 0.1}
    recipe.model.backbone = "bert_tiny"
    recipe.model.sequence_length = 64
    recipe.model.vocabulary_size = 4000
    recipe.train.learning_rate = 1e-3
    recipe.train.epochs = 3
    return recipe
