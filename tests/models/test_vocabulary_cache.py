"""The vocabulary cache: a hit returns what learning returns, without learning again."""

import keras_hub
import pytest

from keras_clx.models import backbones, vocabulary_cache
from tests.helpers import to_numpy

TEXTS = ["the cat sat on the mat", "a dog ran in the park", "the cat ran"] * 10


@pytest.fixture
def counted(monkeypatch, tmp_path):
    monkeypatch.setenv("CLX_CACHE_DIR", str(tmp_path))
    calls = []
    learn = keras_hub.tokenizers.compute_word_piece_vocabulary

    def counting(*args, **kwargs):
        calls.append(1)
        return learn(*args, **kwargs)

    monkeypatch.setattr(keras_hub.tokenizers, "compute_word_piece_vocabulary", counting)
    return calls


def test_second_learning_is_a_cache_hit_with_the_same_vocabulary(counted, tmp_path):
    first = backbones.learn_wordpiece_vocabulary(TEXTS, 60)
    second = backbones.learn_wordpiece_vocabulary(TEXTS, 60)
    assert first == second and "[CLS]" in first and "cat" in first
    assert len(counted) == 1 and len(list((tmp_path / "vocabularies").iterdir())) == 1


def test_other_texts_or_settings_learn_again(counted):
    backbones.learn_wordpiece_vocabulary(TEXTS, 60)
    backbones.learn_wordpiece_vocabulary(TEXTS + ["one more sentence"], 60)
    backbones.learn_wordpiece_vocabulary(TEXTS, 50)
    assert len(counted) == 3


def test_off_disables_the_cache(counted, monkeypatch):
    monkeypatch.setenv("CLX_CACHE_DIR", "off")
    assert vocabulary_cache.cache_dir() is None
    backbones.learn_wordpiece_vocabulary(TEXTS, 60)
    backbones.learn_wordpiece_vocabulary(TEXTS, 60)
    assert len(counted) == 2


def test_sentencepiece_models_are_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("CLX_CACHE_DIR", str(tmp_path))
    texts = [f"sentence number {i} with some words" for i in range(50)]
    first = backbones.learn_sentencepiece_proto(texts, 40)
    assert backbones.learn_sentencepiece_proto(texts, 40) == first
    assert [p.name.split("-")[0] for p in (tmp_path / "vocabularies").iterdir()] == ["sentencepiece"]


def test_learned_vocabulary_survives_the_saved_file(monkeypatch, tmp_path):
    # a no-break space, a narrow no-break space and a line separator: the learner made " ", "## "
    # and "\u2028" tokens of them, which keras-hub's vocabulary file (read back with rstrip) loses
    monkeypatch.setenv("CLX_CACHE_DIR", "off")
    texts = ["hola\u00a0mundo", "precio:\u00a010\u202feuros", "una línea\u2028otra"] * 5 + TEXTS
    vocabulary = backbones.learn_wordpiece_vocabulary(texts, 80)
    assert all(token == token.strip() and token for token in vocabulary)
    trained = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
    trained.save_assets(str(tmp_path))
    reloaded = keras_hub.models.BertTokenizer(lowercase=True)
    reloaded.load_assets(str(tmp_path))
    assert reloaded.get_vocabulary() == vocabulary
    for text in texts[:3]:
        assert to_numpy(trained(text)).tolist() == to_numpy(reloaded(text)).tolist()
