"""CoNLL-style tagging end to end: NER entity F1 equal to seqeval's, POS accuracy over words."""

import numpy as np
import pytest
from seqeval import metrics

from keras_clx.data.conll import read_conll
from keras_clx.data.token_pipeline import gold_word_tags


def test_ner_entity_f1_equals_seqeval(conll_recipe, conll_dir, tmp_path):
    from keras_clx.experiment import fit

    run = fit(conll_recipe("token"), out_dir=tmp_path / "run", verbose=0)
    examples = read_conll(conll_dir / "panx" / "test-de.tsv", "de")
    raw = [line.split("\t")[1] for line in (conll_dir / "panx" / "test-de.tsv").read_text().splitlines() if line]
    gold = [gold_word_tags(e)[1] for e in examples]
    assert [t for tags in gold for t in tags] == raw  # the file's tags, word for word
    predicted = [tags for _, tags in run.task.predict_tags(run.model, examples, run.labels, 16)]
    assert [len(p) for p in predicted] == [len(g) for g in gold]
    scores = run.task.score(run.model, examples, run.labels, 16)
    assert scores["f1"] == pytest.approx(metrics.f1_score(gold, predicted))
    assert scores["precision"] == pytest.approx(metrics.precision_score(gold, predicted))
    assert scores["recall"] == pytest.approx(metrics.recall_score(gold, predicted))
    report = metrics.classification_report(gold, predicted, output_dict=True, zero_division=0)
    per_type = {k[3:]: v for k, v in scores.items() if k.startswith("f1_")}
    assert sorted(per_type) == ["LOC", "PER"]
    for kind, f1 in per_type.items():
        assert f1 == pytest.approx(report[kind]["f1-score"])
    row = next(r for r in run.report.rows if r.language == "de")
    assert row.metrics["f1"] == pytest.approx(scores["f1"])
    assert scores["f1"] > 0  # two epochs learn something on this easy data


def test_pos_accuracy_over_words(conll_recipe, conll_dir, tmp_path):
    from keras_clx.experiment import fit

    run = fit(conll_recipe("tagging"), out_dir=tmp_path / "run", verbose=0)
    assert run.labels.names == ["PROPN", "PUNCT", "X"]
    examples = read_conll(conll_dir / "pos" / "test-de.tsv", "de", scheme="tags")
    predicted = run.task.predict_tags(run.model, examples, run.labels, 16)
    pairs = [(g, p) for e, (_, tags) in zip(examples, predicted) for g, p in zip(e.tags, tags)]
    assert len(pairs) == sum(len(e.words) for e in examples)
    expected = np.mean([g == p for g, p in pairs])
    scores = run.task.score(run.model, examples, run.labels, 16)
    assert scores == {"accuracy": pytest.approx(expected)}
    assert run.report.metric_names == ["accuracy"]
    (row,) = run.predict(["Anna visited Paris ."])
    assert row["words"] == ["Anna", "visited", "Paris", "."] and set(row["tags"]) <= set(run.labels.names)
    assert row["spans"] == []
