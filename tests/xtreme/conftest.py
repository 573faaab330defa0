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
        return apply_overrides(
            recipe,
            [
                "model.sequence_length=24",
                "model.vocabulary_size=200",
                "train.epochs=1",
                "train.batch_size=8",
                "eval.batch_size=16",
                *overrides,
            ],
        )

    return make


NAMES = ["Anna", "Boris", "Chen", "Dara"]
PLACES = [["New", "York"], ["Paris"], ["Rio", "de", "Janeiro"]]
FILLER = ["lives", "in", "visited", "likes", "the", "old", "town", "today", "."]


def conll_rows(n, seed, lang):
    """NER sentences (`lang:word<TAB>IOB2 tag`, PAN-X style) and POS-like plain tags."""
    rng = random.Random(seed)
    ner, pos = [], []
    for _ in range(n):
        words = [(rng.choice(NAMES), "B-PER", "PROPN"), (rng.choice(FILLER), "O", "X")]
        place = rng.choice(PLACES)
        words += [(w, ("B-" if i == 0 else "I-") + "LOC", "PROPN") for i, w in enumerate(place)]
        words += [(rng.choice(FILLER), "O", "X"), (".", "O", "PUNCT")]
        ner.append("".join(f"{lang}:{w}\t{t}\n" for w, t, _ in words) + "\n")
        pos.append("".join(f"{w}\t{p}\n" for w, _, p in words) + "\n")
    return "".join(ner), "".join(pos)


@pytest.fixture
def conll_dir(tmp_path):
    """`panx/{train,dev,test}-{en,de}.tsv` and `pos/{split}-{lang}.tsv`, a few sentences each."""
    for seed, lang in enumerate(("en", "de")):
        for k, split in enumerate(("train", "dev", "test")):
            ner, pos = conll_rows(48 if split == "train" else 12, 10 * seed + k, lang)
            for folder, content in (("panx", ner), ("pos", pos)):
                (tmp_path / folder).mkdir(exist_ok=True)
                (tmp_path / folder / f"{split}-{lang}.tsv").write_text(content)
    return tmp_path


@pytest.fixture
def conll_recipe(conll_dir):
    """A tiny PAN-X (`token`) or POS (`tagging`) recipe on the synthetic files."""
    from keras_clx.recipes import Recipe, apply_overrides

    def make(task, *overrides):
        recipe = Recipe()
        recipe.data.task, recipe.data.sources, recipe.data.targets = task, ["en"], ["de"]
        recipe.data.data_dir = str(conll_dir)
        if task == "token":
            recipe.data.dataset = "panx"
        else:
            recipe.data.dataset = "conll"
            recipe.data.options = {
                "files": {lang: {s: f"pos/{s}-{lang}.tsv" for s in ("train", "dev", "test")} for lang in ("en", "de")}
            }
        return apply_overrides(
            recipe,
            [
                "model.sequence_length=24",
                "model.vocabulary_size=200",
                "train.epochs=2",
                "train.batch_size=8",
                "eval.batch_size=16",
                "train.learning_rate=0.003",
                *overrides,
            ],
        )

    return make
