"""The `umsab` loader on the shared copy of XLM-T's sentiment data."""

import pytest

from keras_clx.data.datasets import load_corpus
from keras_clx.errors import ClxError
from keras_clx.recipes import DataConfig


def test_umsab_loads_source_and_target_languages(shared_data):
    config = DataConfig(dataset="umsab", sources=["english"], targets=["hindi"], data_dir=str(shared_data))
    corpus = load_corpus(config)
    english, hindi = corpus.languages["english"], corpus.languages["hindi"]
    assert (len(english.train), len(english.dev), len(english.test)) == (1839, 324, 870)
    assert {e.label for e in english.train} == {"negative", "neutral", "positive"}
    assert not hindi.train and len(hindi.unlabeled) == 1839 and not any(e.is_labeled for e in hindi.unlabeled)
    assert len(hindi.test) == 870 and hindi.test[0].language == "hindi"
    assert not any("\\u2019" in e.text for e in english.train)  # JSON-style escapes decoded
    assert any("\u2019" in e.text for e in english.train)


def test_umsab_unknown_language_names_the_known_ones(shared_data):
    config = DataConfig(dataset="umsab", sources=["en"], targets=["hindi"], data_dir=str(shared_data))
    with pytest.raises(ClxError, match="UMSAB has no language 'en'.*english"):
        load_corpus(config)
