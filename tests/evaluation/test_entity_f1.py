import random
import warnings

import pytest
from seqeval import metrics
from seqeval.metrics.sequence_labeling import get_entities

from keras_clx.evaluation.entity_f1 import entity_scores, extract_entities


def test_extract_entities():
    tags = ["B-T", "I-T", "O", "I-T", "B-T", "B-U", "I-T", "I-T"]
    assert extract_entities(tags) == [
        ("T", 0, 2),
        ("T", 3, 4),
        ("T", 4, 5),
        ("U", 5, 6),
        ("T", 6, 8),
    ]
    assert extract_entities([]) == [] and extract_entities(["O", "O"]) == []


def test_exact_match_only():
    true = [["B-T", "I-T", "O", "B-T"], ["O", "B-T"]]
    pred = [["B-T", "O", "O", "B-T"], ["O", "B-T"]]  # first entity too short
    scores = entity_scores(true, pred)
    assert scores == {
        "precision": 2 / 3,
        "recall": 2 / 3,
        "f1": pytest.approx(2 / 3),
        "support": 3,
        "predicted": 3,
    }


def test_entities_do_not_cross_sequences():
    # "I-T" at the start of the second sequence starts a new entity
    true = [["O", "B-T"], ["I-T", "O"]]
    pred = [["O", "B-T"], ["B-T", "O"]]
    assert entity_scores(true, pred)["f1"] == 1.0


def test_type_must_match():
    scores = entity_scores([["B-A", "I-A"]], [["B-B", "I-B"]])
    assert (scores["precision"], scores["recall"], scores["f1"]) == (0.0, 0.0, 0.0)


def test_empty_cases_are_zero():
    assert entity_scores([["B-T"]], [["O"]]) == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 1,
        "predicted": 0,
    }
    assert entity_scores([["O"]], [["B-T"]]) == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
        "predicted": 1,
    }
    assert entity_scores([], [])["f1"] == 0.0


def test_length_mismatch():
    with pytest.raises(ValueError, match="sequences"):
        entity_scores([["O"]], [])
    with pytest.raises(ValueError, match="sequence 0"):
        entity_scores([["O"]], [["O", "O"]])


def random_tags(rng, length):
    return [rng.choice(["O", "O", "O", "B-A", "I-A", "B-B", "I-B"]) for _ in range(length)]


def test_matches_seqeval_on_random_sequences():
    rng = random.Random(0)
    for _ in range(300):
        lengths = [rng.randint(0, 12) for _ in range(rng.randint(1, 6))]
        true = [random_tags(rng, n) for n in lengths]
        # predictions: a noisy copy of the gold tags, or independent tags
        noise = rng.random()
        pred = [
            [rng.choice(["O", "B-A", "I-A", "B-B", "I-B"]) if rng.random() < noise else t for t in seq] for seq in true
        ]
        scores = entity_scores(true, pred)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # seqeval warns when a score is 0/0
            assert scores["precision"] == pytest.approx(metrics.precision_score(true, pred))
            assert scores["recall"] == pytest.approx(metrics.recall_score(true, pred))
            assert scores["f1"] == pytest.approx(metrics.f1_score(true, pred))
        assert scores["support"] == len(get_entities(true))
        assert scores["predicted"] == len(get_entities(pred))
        for seq in true + pred:
            assert extract_entities(seq) == [(t, s, e + 1) for t, s, e in get_entities(seq)]
