"""Small synthetic XTREME-style data written by the tests (pairs and CoNLL files)."""

import random

import pytest

WORDS = "red blue green cat dog bird runs sleeps eats fast slow big small house tree river".split()


def pair_rows(n, seed):
    """`sentence1<TAB>sentence2<TAB>label`: label 1 when the second is the first reversed."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a = rng.sample(WORDS, 5)
        b = list(reversed(a)) if i % 2 else rng.sample(WORDS, 5)
        rows.append(f"{' '.join(a)} .\t{' '.join(b)} .\t{i % 2}\n")
    return "".join(rows)


@pytest.fixture
def pawsx_dir(tmp_path):
    """A data directory with `pawsx/dev-{en,de}.tsv` (80 pairs each, no train file)."""
    for seed, lang in enumerate(("en", "de")):
        folder = tmp_path / "pawsx"
        folder.mkdir(exist_ok=True)
        (folder / f"dev-{lang}.tsv").write_text(pair_rows(80, seed))
    return tmp_path


@pytest.fixture
def pair_recipe(pawsx_dir):
    """A tiny PAWS-X recipe on the synthetic pairs (callable: extra overrides)."""
    from keras_clx.recipes import Recipe, apply_overrides

    def make(*overrides):
        recipe = Recipe()
        recipe.data.dataset, recipe.data.task = "pawsx", "pair"
        recipe.data.sources, recipe.data.targets = ["en"], ["de"]
        recipe.data.data_dir = str(pawsx_dir)
        return apply_overrides(recipe, [
            "model.sequence_length=24", "model.vocabulary_size=200", "train.epochs=1",
            "train.batch_size=8", "eval.batch_size=16", *overrides,
        ])

    return make
