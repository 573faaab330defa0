import pytest

from keras_clx.data.demo import SOURCE_LANGUAGE, DemoConfig, make_demo_corpus


def small(**overrides):
    return make_demo_corpus(DemoConfig(train_size=200, dev_size=20, test_size=100, unlabeled_size=50), **overrides)


def test_deterministic_for_a_seed():
    a, b, c = small(), small(), small(seed=1)
    assert [e.text for e in a.train] == [e.text for e in b.train]
    assert [e.text for e in a.train] != [e.text for e in c.train]


def test_splits_sizes_and_labels():
    corpus = small(num_classes=3)
    assert corpus.sources == [SOURCE_LANGUAGE] and corpus.targets == ["near", "mid", "far"]
    assert len(corpus.train) == 200 and len(corpus.dev) == 20
    for lang in corpus.targets:
        data = corpus.languages[lang]
        assert len(data.test) == 100 and len(data.dev) == 20 and not data.train
        assert all(not e.is_labeled for e in data.unlabeled)
        assert {e.label for e in data.test} <= set(corpus.labels.names)
    assert len(corpus.labels) == 3
    corpus.validate()


def _shared_fraction(corpus, lang):
    source_words = {w for e in corpus.train for w in e.text.split()}
    words = [w for e in corpus.languages[lang].test for w in e.text.split()]
    return sum(w in source_words for w in words) / len(words)


def test_shared_share_controls_overlap_with_the_source():
    corpus = small(targets={"near": 0.8, "far": 0.1}, reorder=0.0)
    near, far = _shared_fraction(corpus, "near"), _shared_fraction(corpus, "far")
    assert near == pytest.approx(0.8, abs=0.1)
    assert far == pytest.approx(0.1, abs=0.08)


def test_reorder_swaps_adjacent_words_only():
    import numpy as np

    from keras_clx.data.demo import _translate

    words = [f"w{i}" for i in range(12)]
    identity = {w: w for w in words}
    rng = np.random.default_rng(0)
    assert _translate(rng, words, identity, reorder=0.0) == words
    swapped = _translate(rng, words, identity, reorder=1.0)
    assert swapped != words and sorted(swapped) == sorted(words)
    assert all(abs(words.index(w) - i) <= 1 for i, w in enumerate(swapped))
