import pytest

from keras_clx.data.datasets import load_corpus
from keras_clx.errors import ClxError, DataError
from keras_clx.recipes import DataConfig


def test_demo_options_and_caps():
    config = DataConfig(options={"train_size": 50, "test_size": 30}, max_eval_examples=10)
    corpus = load_corpus(config)
    assert len(corpus.train) == 50
    assert len(corpus.languages["far"].test) == 10


def test_unknown_dataset_and_demo_option():
    with pytest.raises(ClxError, match="unknown dataset 'mtd'; did you mean 'mtod'"):
        load_corpus(DataConfig(dataset="mtd"))
    with pytest.raises(ClxError, match="unknown demo option"):
        load_corpus(DataConfig(options={"train_sizes": 3}))


def test_unknown_language():
    with pytest.raises(DataError, match="language 'xx' has no data"):
        load_corpus(DataConfig(targets=["xx"], options={"train_size": 20}))


def _table(tmp_path, **files):
    paths = {}
    for name, rows in files.items():
        path = tmp_path / f"{name}.tsv"
        path.write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
        paths[name] = path.name
    return paths


def test_table_dataset_target_label_missing_from_source_is_an_error(tmp_path):
    p = _table(tmp_path, en=[("good", "pos"), ("bad", "neg")], de=[("gut", "pos"), ("so so", "neutral")])
    config = DataConfig(
        dataset="table",
        sources=["en"],
        targets=["de"],
        data_dir=str(tmp_path),
        options={"files": {"en": {"train": p["en"]}, "de": {"test": p["de"]}}},
    )
    with pytest.raises(DataError, match=r"de/test.*label 'neutral'.*not in the source label set"):
        load_corpus(config)


def test_table_dataset_empty_split_is_an_error(tmp_path):
    p = _table(tmp_path, en=[], de=[("gut", "pos")])
    config = DataConfig(
        dataset="table",
        sources=["en"],
        targets=["de"],
        data_dir=str(tmp_path),
        options={"files": {"en": {"train": p["en"]}, "de": {"test": p["de"]}}},
    )
    with pytest.raises(DataError, match="en.tsv: TSV file has a header row but no records"):
        load_corpus(config)
    config.options = {"files": {"en": {"dev": p["de"]}, "de": {"test": p["de"]}}}
    with pytest.raises(DataError, match="source language 'en' has an empty train split"):
        load_corpus(config)


def test_missing_file_names_the_path(tmp_path):
    config = DataConfig(dataset="mtod", sources=["en"], targets=["es"], data_dir=str(tmp_path))
    with pytest.raises(DataError, match="train-en.tsv.*file not found"):
        load_corpus(config)


def test_mtod_on_the_shared_files(shared_data):
    config = DataConfig(
        dataset="mtod",
        sources=["en"],
        targets=["es", "th"],
        data_dir=str(shared_data),
        options={"source_train_split": "eval", "dev_fraction": 0.1},
    )
    corpus = load_corpus(config)
    assert len(corpus.train) + len(corpus.dev) == 4181
    assert len(corpus.dev) == 418
    assert len(corpus.languages["es"].unlabeled) == 3617
    assert len(corpus.languages["th"].test) == 1692
    assert len(corpus.labels) == 12
    assert all(e.label is None for e in corpus.unlabeled("th"))
