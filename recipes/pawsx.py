"""PAWS-X paraphrase identification (sentence pairs), en -> de, es, fr, ja, ko, zh.

Each pair is packed as `[CLS] s1 [SEP] s2 [SEP]` (BERT, with segment ids) or
`<s> s1 </s></s> s2 </s>` (XLM-R), truncated round-robin so both sentences keep words.

XTREME's baseline (`scripts/train_pawsx.sh`): fine-tune a pretrained encoder with
lr 2e-5, batch 32, maximum length 128, 5 epochs, and pick the checkpoint on English dev:

    keras-clx fit recipes/pawsx.py --set model.backbone=xlm_roberta_base_multi \\
        --set train.learning_rate=2e-5
    keras-clx fit recipes/pawsx.py --set model.backbone=/path/to/hf/bert-base-multilingual-cased \\
        --set train.learning_rate=2e-5

With the full release (`keras-clx download pawsx`: `train-en.tsv`, 49,401 pairs)
English trains on its train file. The shared copy (`pawsx_dev/`, dev files only)
is read with `--set data.options.folder=pawsx_dev` (as `pawsx_small.py` does):
without a train file, every language's dev file is split in half
(seeded), English trains on one half (10% of it as dev) and every language is
tested on its other half. The default backbone is a small BERT trained from scratch
(4 layers, hidden 256, lr 3e-4), so that the recipe runs offline.
"""

from keras_clx import Recipe


def get_recipe():
    recipe = Recipe(description="PAWS-X paraphrase pairs, en -> de, es, fr, ja, ko, zh")
    recipe.data.dataset = "pawsx"
    recipe.data.task = "pair"
    recipe.data.sources = ["en"]
    recipe.data.targets = ["de", "es", "fr", "ja", "ko", "zh"]
    recipe.model.backbone = "bert_small"
    recipe.model.sequence_length = 128
    recipe.model.vocabulary_size = 16000
    recipe.train.batch_size = 32
    recipe.train.learning_rate = 3e-4
    recipe.train.epochs = 5
    return recipe
