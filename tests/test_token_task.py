"""Token classification end to end: word/sub-word alignment through the real keras-hub
tokenizers, predictions back to words and character spans, entity F1 through
`TokenTask.score`, the SemEval-2016 loader on the shared files, multi-source and
leave-one-out runs."""

import json

import numpy as np
import pytest

from keras_clx.data.datasets import load_corpus
from keras_clx.data.iob import IGNORE_INDEX, IOBLabels, spans_to_word_tags
from keras_clx.data.records import Example, LabelVocabulary, Span
from keras_clx.data.token_pipeline import encode_examples, encode_texts
from keras_clx.errors import ClxError, DataError
from keras_clx.models.backbones import build_backbone
from keras_clx.recipes import DataConfig
from keras_clx.tasks import get_task
from tests.helpers import target_example, to_numpy

TASK = get_task("token")
LABELS = LabelVocabulary(["TARGET"])
TAGS = IOBLabels(["TARGET"])
LENGTH = 48


EXAMPLES = [
    # multi-sub-word words inside a three-word target and a two-word target
    target_example("Loved the goat cheese pizza, and the wine list.", "en", "a", (10, 27), (37, 46)),
    # adjacent targets: two entities (B B)
    target_example("Service, pizza pasta.", "en", "b", (0, 7), (9, 14), (15, 20)),
    # overlapping targets: the longer one is kept
    target_example("выбор блюд хороший", "ru", "c", (0, 5), (0, 10), (6, 18)),
    target_example("La paella y el vino estaban buenísimos.", "es", "d", (3, 9), (15, 19)),
    target_example("Nothing to say.", "en", "e"),
]
VOCABULARY_TEXTS = [e.text for e in EXAMPLES] * 3 + [
    "the service was slow but the sushi rolls were great",
    "las tapas y la sangría",
]


@pytest.fixture(scope="module", params=["bert_tiny", "xlmr_tiny"])
def preprocessor(request):
    # Small vocabularies, so that most words split into several sub-words.
    size = 120 if request.param == "bert_tiny" else 80
    _, preprocessor = build_backbone(request.param, VOCABULARY_TEXTS, sequence_length=LENGTH, vocabulary_size=size)
    return preprocessor


def pieces_of(tokenizer, word):
    pieces = tokenizer([word])
    return pieces.to_list()[0] if hasattr(pieces, "to_list") else list(pieces[0])


def first_positions(counts, offset=1):
    positions, position = [], offset
    for count in counts:
        positions.append(position)
        position += count
    return positions


def test_words_align_to_subwords_through_the_real_tokenizer(preprocessor):
    encoding, y = encode_examples(EXAMPLES, TAGS, preprocessor)
    tokenizer = preprocessor.tokenizer
    assert encoding.truncated == 0
    assert max(max(c) for c in encoding.subword_counts) > 1  # the fixture has multi-sub-word words
    reference = preprocessor([e.text for e in EXAMPLES])
    assert sorted(encoding.x) == sorted(reference)
    for name, value in encoding.x.items():
        assert value.shape == (len(EXAMPLES), LENGTH)
        assert value.dtype == to_numpy(reference[name]).dtype
    for i, e in enumerate(EXAMPLES):
        words, tags = spans_to_word_tags(e.text, e.spans)
        counts = encoding.subword_counts[i]
        ids = encoding.x["token_ids"][i]
        positions = first_positions(counts)
        end = 1 + sum(counts)
        assert ids[0] == tokenizer.start_token_id and ids[end] == tokenizer.end_token_id
        assert encoding.x["padding_mask"][i].sum() == end + 1
        for (word, _, _), position, count in zip(words, positions, counts):
            assert list(ids[position : position + count]) == pieces_of(tokenizer, word)
        expected = np.full(LENGTH, IGNORE_INDEX)
        expected[positions] = TAGS.encode(tags)
        np.testing.assert_array_equal(y[i], expected)
    assert spans_to_word_tags(EXAMPLES[1].text, EXAMPLES[1].spans)[1] == ["B-TARGET", "O", "B-TARGET", "B-TARGET", "O"]
    assert spans_to_word_tags(EXAMPLES[2].text, EXAMPLES[2].spans)[1] == ["B-TARGET", "I-TARGET", "O"]


def test_packing_equals_the_sequence_preprocessor_on_plain_words(preprocessor):
    # Without punctuation, word-by-word pieces are the sentence's pieces for
    # both WordPiece and SentencePiece, so the inputs are identical.
    texts = ["the goat cheese pizza", "la paella y el vino estaban buenísimos"]
    encoding = encode_texts(texts, preprocessor)
    reference = preprocessor(texts)
    for name in reference:
        np.testing.assert_array_equal(encoding.x[name], to_numpy(reference[name]))


def test_truncation_keeps_the_end_token_and_labels_only_what_fits(preprocessor):
    text = " ".join(["pizza pasta wine"] * 12)
    example = target_example(text, "en", "long", (0, 5), (len(text) - 4, len(text)))
    encoding, y = encode_examples([example], TAGS, preprocessor)
    assert encoding.truncated == 1
    assert encoding.x["token_ids"][0, -1] == preprocessor.tokenizer.end_token_id
    assert encoding.x["padding_mask"][0].all()
    positions = first_positions(encoding.subword_counts[0])
    kept = [p for p in positions if p < LENGTH - 1]
    assert len(kept) < len(positions)
    assert np.flatnonzero(y[0] != IGNORE_INDEX).tolist() == kept
    assert y[0, 1] == TAGS.ids["B-TARGET"]


class StubModel:
    """Returns fixed word tags as sub-word logits: the tag at each word's first
    sub-word, a wrong tag at every other position (which must be ignored)."""

    def __init__(self, preprocessor, word_tags):
        self.preprocessor = preprocessor
        self.word_tags = word_tags

    def predict(self, ds, verbose=0):
        token_ids = np.concatenate([to_numpy(x["token_ids"]) for x in ds])
        logits = np.zeros((len(token_ids), LENGTH, len(TAGS)), "float32")
        logits[..., TAGS.ids["B-TARGET"]] = 5.0
        for i, tags in enumerate(self.word_tags):
            counts = self.counts[i]
            for tag, position, count in zip(tags, first_positions(counts), counts):
                if count and position < LENGTH - 1:
                    logits[i, position] = 0.0
                    logits[i, position, TAGS.ids[tag]] = 9.0
        return logits

    def for_texts(self, texts):
        encoding = encode_texts(texts, self.preprocessor)
        self.counts = encoding.subword_counts
        return self


def test_predict_maps_subwords_back_to_words_and_character_spans(preprocessor):
    texts = [EXAMPLES[0].text, EXAMPLES[1].text, " ".join(["pizza pasta wine"] * 12)]
    tags = [
        ["O", "O", "B-TARGET", "I-TARGET", "I-TARGET", "O", "O", "O", "B-TARGET", "I-TARGET", "O"],
        ["B-TARGET", "O", "B-TARGET", "B-TARGET", "O"],
        ["O"] * 36,
    ]
    model = StubModel(preprocessor, tags).for_texts(texts)
    rows = TASK.predict(model, [Example(t, "en", str(i)) for i, t in enumerate(texts)], LABELS, batch_size=2)
    assert rows[0]["words"][2:5] == ["goat", "cheese", "pizza"]
    assert rows[0]["tags"] == tags[0]
    assert rows[0]["spans"] == [
        {"start": 10, "end": 27, "label": "TARGET", "text": "goat cheese pizza"},
        {"start": 37, "end": 46, "label": "TARGET", "text": "wine list"},
    ]
    assert [s["text"] for s in rows[1]["spans"]] == ["Service", "pizza", "pasta"]
    # words cut off by the sequence length are predicted "O", not the wrong tag elsewhere
    assert rows[2]["tags"] == ["O"] * 36 and rows[2]["spans"] == []


def test_score_gives_entity_level_precision_recall_f1(preprocessor):
    examples = [
        EXAMPLES[0],  # gold: goat cheese pizza, wine list
        EXAMPLES[1],  # gold: Service, pizza, pasta
        target_example("The sushi was fresh.", "en", "s", (4, 9)),  # gold: sushi
        EXAMPLES[4],  # gold: none
    ]
    predicted = [
        ["O", "O", "B-TARGET", "I-TARGET", "I-TARGET", "O", "O", "O", "B-TARGET", "O", "O"],  # 1 right, wine too short
        ["B-TARGET", "O", "B-TARGET", "I-TARGET", "O"],  # Service right, "pizza pasta" merged: wrong
        ["O", "O", "O", "O", "O"],  # sushi missed
        ["B-TARGET", "O", "O", "O"],  # a false positive
    ]
    model = StubModel(preprocessor, predicted).for_texts([e.text for e in examples])
    scores = TASK.score(model, examples, LABELS, batch_size=3)
    # 6 gold entities, 5 predicted, 2 correct
    assert {k: scores[k] for k in ("precision", "recall", "f1")} == {
        "precision": pytest.approx(2 / 5),
        "recall": pytest.approx(2 / 6),
        "f1": pytest.approx(2 * (2 / 5) * (2 / 6) / (2 / 5 + 2 / 6)),
    }
    perfect = StubModel(preprocessor, [spans_to_word_tags(e.text, e.spans)[1] for e in examples])
    assert TASK.score(perfect.for_texts([e.text for e in examples]), examples, LABELS, 3)["f1"] == 1.0


def test_unknown_span_type_and_missing_spans_are_data_errors(preprocessor):
    with pytest.raises(DataError, match="span type 'FOOD' of example 'x'"):
        encode_examples([Example("pizza", "en", "x", spans=(Span(0, 5, "FOOD"),))], TAGS, preprocessor)
    with pytest.raises(DataError, match="example 'y' .* has no span or tag annotation"):
        encode_examples([Example("pizza", "en", "y")], TAGS, preprocessor)


# === SemEval-2016 through `load_corpus` (the shared files) ===

SEMEVAL_SENTENCES = {  # SOURCE.md: (train, test) sentences, minus the empty French texts (69, 26)
    "en": (2000, 676),
    "es": (2070, 881),
    "fr": (1733 - 69, 694 - 26),
    "nl": (1722, 575),
    "ru": (3655, 1209),
    "tr": (1232, 144),
}


def test_semeval_token_corpus_from_the_shared_files(shared_data):
    config = DataConfig(
        dataset="semeval2016",
        task="token",
        sources=["en"],
        targets=["es", "fr", "nl", "ru", "tr"],
        data_dir=str(shared_data),
    )
    corpus = load_corpus(config)
    assert corpus.labels.names == ["TARGET"]
    assert TASK.tags(TASK.labels(corpus)).names == ["O", "B-TARGET", "I-TARGET"]
    for lang, (train, test) in SEMEVAL_SENTENCES.items():
        data = corpus.languages[lang]
        pool = data.train if lang == "en" else data.unlabeled
        assert len(pool) + len(data.dev) == train and len(data.test) == test, lang
        assert len(data.dev) == round(0.1 * train)
        assert not {e.id for e in pool} & {e.id for e in data.dev}
        assert all(e.spans is not None for e in data.dev + data.test)
    assert all(e.spans is None and e.label is None for e in corpus.unlabeled())
    assert {e.language for e in corpus.unlabeled()} == {"es", "fr", "nl", "ru", "tr"}
    # SOURCE.md: 650 explicit English test targets, before duplicates and overlaps are removed
    assert 600 < sum(len(e.spans) for e in corpus.languages["en"].test) <= 650


def test_semeval_multi_source_corpus_is_the_union(shared_data):
    config = DataConfig(
        dataset="semeval2016", task="token", sources=["en", "es", "ru"], targets=["tr"], data_dir=str(shared_data)
    )
    corpus = load_corpus(config)
    sizes = {lang: len(corpus.languages[lang].train) for lang in ("en", "es", "ru")}
    assert len(corpus.train) == sum(sizes.values()) and all(sizes.values())
    assert [e.language for e in corpus.train] == ["en"] * sizes["en"] + ["es"] * sizes["es"] + ["ru"] * sizes["ru"]
    assert {e.language for e in corpus.dev} == {"en", "es", "ru"}
    assert {e.language for e in corpus.unlabeled()} == {"tr"}
    polarity = load_corpus(
        DataConfig(dataset="semeval2016", sources=["en", "es"], targets=["tr"], data_dir=str(shared_data))
    )
    assert polarity.labels.names == ["negative", "neutral", "positive"]


# === Runs: leave-one-out (multi-source sub-runs), prediction from a run ===


def tiny_semeval(shared_data, *overrides):
    from keras_clx.recipes import apply_overrides, load_recipe

    recipe = load_recipe("semeval_iw")
    return apply_overrides(
        recipe,
        [
            f"data.data_dir={shared_data}",
            "train.instance_weighting=none",
            "model.sequence_length=16",
            "model.vocabulary_size=400",
            "data.max_train_examples=32",
            "data.max_eval_examples=16",
            "train.epochs=1",
            "train.batch_size=16",
            "eval.batch_size=32",
            *overrides,
        ],
    )


def test_leave_one_out_recipes():
    from keras_clx.errors import RecipeError
    from keras_clx.multisource import leave_one_out_recipes
    from keras_clx.recipes import Recipe

    recipe = Recipe()
    recipe.data.sources, recipe.data.targets, recipe.data.leave_one_out = ["en"], ["es", "nl", "ru"], True
    plans = leave_one_out_recipes(recipe)
    assert [t for t, _ in plans] == ["es", "nl", "ru"]
    assert [(r.data.sources, r.data.targets) for _, r in plans] == [
        (["en", "nl", "ru"], ["es"]),
        (["en", "es", "ru"], ["nl"]),
        (["en", "es", "nl"], ["ru"]),
    ]
    assert not any(r.data.leave_one_out for _, r in plans) and recipe.data.sources == ["en"]
    recipe.data.sources, recipe.data.targets = [], ["es"]
    with pytest.raises(RecipeError, match="at least two languages"):
        leave_one_out_recipes(recipe)


def test_leave_one_out_combines_one_report_row_per_target_and_resumes(tmp_path, monkeypatch):
    from keras_clx import experiment
    from keras_clx.evaluation.report import LanguageResult, Report
    from keras_clx.multisource import fit_leave_one_out
    from keras_clx.recipes import Recipe

    trained, interrupt = [], {"nl"}

    def fake_fit(recipe, out_dir, overwrite=False, verbose=1, callbacks=(), resume=False):
        [target] = recipe.data.targets
        trained.append((target, recipe.data.sources))
        out_dir.mkdir(parents=True, exist_ok=overwrite)
        if target in interrupt:
            raise KeyboardInterrupt
        f1 = {"es": 0.5, "nl": 0.25, "tr": 0.125}[target]
        rows = [LanguageResult(lang, "source", "test", 10, {"f1": 0.9}) for lang in recipe.data.sources]
        rows.append(LanguageResult(target, "target", "test", 20, {"f1": f1}))
        report = Report(rows, ["f1"])
        report.write(out_dir)
        (out_dir / "model.keras").write_text("")
        (out_dir / "metrics.json").write_text(json.dumps({"backend": "any", "fit_seconds": 1.0}))
        return experiment.Run(recipe, None, None, out_dir, report)

    def fake_load_run(directory):
        return experiment.Run(None, None, None, directory)

    monkeypatch.setattr(experiment, "fit", fake_fit)
    monkeypatch.setattr(experiment, "load_run", fake_load_run)
    recipe = Recipe(description="d")
    recipe.data.sources, recipe.data.targets, recipe.data.leave_one_out = ["en"], ["es", "nl", "tr"], True
    with pytest.raises(KeyboardInterrupt):
        fit_leave_one_out(recipe, tmp_path / "loo", verbose=0)
    assert trained == [("es", ["en", "nl", "tr"]), ("nl", ["en", "es", "tr"])]
    with pytest.raises(ClxError, match="already holds a run"):
        fit_leave_one_out(recipe, tmp_path / "loo", verbose=0)

    trained.clear()
    interrupt.clear()
    run = fit_leave_one_out(recipe, tmp_path / "loo", verbose=0, resume=True)
    assert trained == [("nl", ["en", "es", "tr"]), ("tr", ["en", "es", "nl"])]  # es was finished
    assert [(r.language, r.role, r.metrics["f1"]) for r in run.report.rows] == [
        ("es", "target", 0.5),
        ("nl", "target", 0.25),
        ("tr", "target", 0.125),
    ]
    assert run.report.target_average() == {"f1": pytest.approx(0.875 / 3)}
    written = json.loads((tmp_path / "loo" / "metrics.json").read_text())
    assert written["leave_one_out"]["nl"] == {"sources": ["en", "es", "tr"], "directory": "nl"}
    assert written["target_average"]["f1"] == pytest.approx(0.875 / 3)
    assert "| nl" in (tmp_path / "loo" / "report.md").read_text()

    recipe.train.epochs += 1
    with pytest.raises(ClxError, match="started with another recipe"):
        fit_leave_one_out(recipe, tmp_path / "loo", verbose=0, resume=True)
    monkeypatch.undo()
    with pytest.raises(ClxError, match="leave-one-out run; use one of its sub-runs"):
        experiment.load_run(tmp_path / "loo")


@pytest.mark.slow
def test_leave_one_out_fit_trains_one_multi_source_model_per_target(shared_data, tmp_path):
    from keras_clx import experiment, runs

    recipe = tiny_semeval(shared_data, "data.targets=es,tr", "data.leave_one_out=true")
    run = runs.fit(recipe, out_dir=tmp_path / "loo", verbose=0)
    assert [(r.language, r.role) for r in run.report.rows] == [("es", "target"), ("tr", "target")]
    assert run.report.metric_names == ["precision", "recall", "f1"]
    assert sorted(run.runs) == ["es", "tr"]
    assert run.runs["es"].recipe.data.sources == ["en", "tr"]
    assert run.runs["tr"].recipe.data.sources == ["en", "es"]
    manifest = json.loads((tmp_path / "loo" / "leave_one_out.json").read_text())
    assert manifest["es"]["sources"] == ["en", "tr"]

    # each sub-run is a multi-source run: one report row per source and the target
    sub = run.runs["tr"].report
    assert [(r.language, r.role) for r in sub.rows] == [("en", "source"), ("es", "source"), ("tr", "target")]
    for r in sub.rows:
        assert r.examples == 16 and all(0.0 <= v <= 1.0 for v in r.metrics.values())
    combined = json.loads((tmp_path / "loo" / "report.json").read_text())
    assert [row["language"] for row in combined["languages"]] == ["es", "tr"]
    assert combined["languages"][1]["metrics"] == sub.rows[2].metrics
    assert combined["target_average"]["f1"] == pytest.approx(
        (run.runs["es"].report.rows[-1].metrics["f1"] + sub.rows[2].metrics["f1"]) / 2
    )

    loaded = experiment.load_run(tmp_path / "loo" / "es")
    [row] = loaded.predict(["The goat cheese pizza, was great."])
    assert row["words"] == ["The", "goat", "cheese", "pizza", ",", "was", "great", "."]
    assert len(row["tags"]) == 8 and set(row["tags"]) <= set(TAGS.names)
    for span in row["spans"]:
        assert row["text"][span["start"] : span["end"]] == span["text"]
    with pytest.raises(ClxError, match="leave-one-out run; use one of its sub-runs"):
        experiment.load_run(tmp_path / "loo")
    with pytest.raises(ClxError, match="already holds a run"):
        runs.fit(recipe, out_dir=tmp_path / "loo", verbose=0)
