"""Dictionary code-switching: dictionary files, tag alignment, seeding, challenge sets, a demo fit."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_clx.cli import main
from keras_clx.data.code_switch import (
    CodeSwitcher,
    SwitchingPreprocessor,
    challenge_set,
    read_challenge_set,
    write_challenge_set,
)
from keras_clx.data.dictionaries import Dictionary, read_dictionary
from keras_clx.data.iob import spans_to_word_tags, split_words, tag_chunks
from keras_clx.data.records import Example, Span
from keras_clx.errors import DataError
from keras_clx.evaluation.report import outcomes_file, read_outcomes


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_hunalign_muse_and_tsv_orders(tmp_path):
    hunalign = read_dictionary(write(tmp_path / "en-es.dict", "el @ the\nla @ the\nCasa @ House\nla @ the\n"), "es")
    assert hunalign.translations("The") == ("el", "la")  # several translations, no duplicates, lower-cased key
    assert hunalign.translations("house") == ("Casa",)
    muse = read_dictionary(write(tmp_path / "en-es.txt", "the el\nthe la\n"), "es")
    assert muse.translations("the") == ("el", "la")
    tsv = read_dictionary(
        write(tmp_path / "en-es.tsv", "# comment\n\nalarm clock\tdespertador\nwake\tponer en hora\n"), "es"
    )
    assert tsv.translations("wake") == ("poner en hora",)  # a multi-word translation
    assert "alarm clock" not in tsv.entries and tsv.skipped == 1  # a source side of two words never matches
    flipped = read_dictionary(write(tmp_path / "es-en.tsv", "casa\thouse\n"), "es", order="target-source")
    assert flipped.translations("house") == ("casa",)
    punctuated = read_dictionary(write(tmp_path / "p.dict", "EE.UU. @ u.s.\nhola @ hello\n"), "es")
    assert punctuated.skipped == 1 and punctuated.translations("hello") == ("hola",)


@pytest.mark.parametrize("bad", ["one-column", "a @ b @ c", "a b c", "x\ty\tz"])
def test_malformed_line_is_one_line_error_naming_file_and_line(tmp_path, bad):
    path = write(tmp_path / "bad.dict", f"el @ the\n{bad}\n")
    with pytest.raises(DataError) as error:
        read_dictionary(path, "es")
    message = str(error.value)
    assert message.startswith(f"{path}:2: ") and "\n" not in message


def test_a_spreadsheet_tsv_with_a_byte_order_mark_and_crlf_reads_every_line(tmp_path):
    (tmp_path / "es.tsv").write_bytes(b"\xef\xbb\xbfcasa\thouse\r\nperro\tdog\r\n")
    assert read_dictionary(tmp_path / "es.tsv", "es").entries == {"casa": ("house",), "perro": ("dog",)}
    (tmp_path / "latin.tsv").write_bytes(b"casa\thouse\n\xe9t\xe9\tsummer\n")
    with pytest.raises(DataError, match=r"latin.tsv:2: not valid UTF-8"):
        read_dictionary(tmp_path / "latin.tsv", "es")


def test_missing_muse_dictionary_names_the_path(tmp_path, monkeypatch):
    monkeypatch.setenv("CLX_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="en-xx.dict"):
        read_dictionary("muse", "xx")
    (tmp_path / "muse_dictionaries" / "dict").mkdir(parents=True)
    write(tmp_path / "muse_dictionaries" / "dict" / "en-ar.dict", "كتاب @ book\n")
    with pytest.raises(DataError, match=r"en-xx.dict: MUSE dictionary not found .*MUSE has: ar\)"):
        read_dictionary("muse", "xx")
    # a data set's English language name finds the dictionary of its code (UMSAB's `arabic`)
    assert read_dictionary("muse", "arabic").translations("book") == ("كتاب",)


WORDS = ["set", "an", "alarm", "for", "eight", "am", "cheese", "pizza", "wine"]
word = st.sampled_from(WORDS)
translation = st.lists(
    st.sampled_from(["una", "alarma", "l'eau", "ดี", "x-y", "vino", ",", "8"]), min_size=1, max_size=3
).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(
    sentence=st.lists(st.tuples(word, st.sampled_from([" ", ", ", " . ", "  ", "'", "-"])), min_size=1, max_size=10),
    entries=st.dictionaries(word, st.lists(translation, min_size=1, max_size=3), max_size=9),
    span_seed=st.integers(0, 2**16),
    rate=st.sampled_from([0.0, 0.5, 1.0]),
    draw=st.integers(0, 5),
)
def test_tags_stay_aligned_after_switching(sentence, entries, span_seed, rate, draw):
    text = "".join(w + sep for w, sep in sentence).strip()
    words = split_words(text)
    rng = np.random.default_rng(span_seed)
    spans, i = [], 0
    while i < len(words):  # random entities over whole words
        if rng.random() < 0.4:
            j = min(len(words), i + int(rng.integers(1, 4)))
            spans.append(Span(words[i][1], words[j - 1][2], str(rng.choice(["T", "U"]))))
            i = j + 1
        else:
            i += 1
    _, tags = spans_to_word_tags(text, spans)
    switcher = CodeSwitcher({"xx": Dictionary("xx", {k: tuple(v) for k, v in entries.items()})}, rate=rate)
    new_text, new_words, new_tags = switcher.switch(text, switcher.rng_for(text, draw), tags=tags)

    assert new_words == split_words(new_text)  # the words the tokenizer sees are the ones tagged
    assert len(new_tags) == len(new_words)
    for previous, tag in zip(["O", *new_tags], new_tags):  # well-formed IOB2: I-X continues X
        if tag.startswith("I-"):
            assert previous[2:] == tag[2:] and previous != "O"
    assert [c[0] for c in tag_chunks(new_tags)] == [c[0] for c in tag_chunks(tags)]  # same entities in order
    if rate == 0.0:
        assert new_text == text and new_tags == tags
    untouched = [w for w, _, _ in words if w.lower() not in entries]
    assert all(w in [n for n, _, _ in new_words] for w in untouched)


def test_neighbouring_thai_translations_join_into_one_run():
    th = Dictionary("th", {"set": ("ตั้ง",), "alarm": ("นาฬิกาปลุก",), "now": ("ตอนนี้",)})
    es = Dictionary("es", {"now": ("ahora",)})
    text = "set alarm , now"
    joined = CodeSwitcher({"th": th}, 1.0, join_unspaced=True)
    assert joined.switch_text(text) == "ตั้งนาฬิกาปลุก , ตอนนี้"  # punctuation between them stays
    assert CodeSwitcher({"th": th}, 1.0).switch_text(text) == "ตั้ง นาฬิกาปลุก , ตอนนี้"
    assert CodeSwitcher({"th": th, "es": es}, 1.0, join_unspaced=True).switch_text("set now") in (
        "ตั้งตอนนี้",
        "ตั้ง ahora",  # Spanish is written with spaces
    )
    tagged = joined.switch(text, joined.rng_for(text, 0), tags=["B-T", "I-T", "O", "O"])
    assert tagged[0] == "ตั้ง นาฬิกาปลุก , ตอนนี้" and tagged[2] == ["B-T", "I-T", "O", "O"]


def test_example_spans_follow_a_multi_word_translation():
    switcher = CodeSwitcher({"fr": Dictionary("fr", {"cheese": ("fromage de chèvre",), "great": ("bon",)})}, 1.0)
    example = Example("great cheese pizza!", "en", "1", spans=(Span(6, 18, "T"),))
    switched = switcher.switch_example(example)
    assert switched.text == "bon fromage de chèvre pizza!"
    assert [switched.text[s.start : s.end] for s in switched.spans] == ["fromage de chèvre pizza"]


def make_switcher(seed=0):
    dictionary = Dictionary(
        "es",
        {
            "set": ("poner", "fijar"),
            "alarm": ("alarma", "despertador"),
            "for": ("para", "por"),
            "the": ("el", "la"),
            "morning": ("mañana", "madrugada"),
        },
    )
    return CodeSwitcher({"es": dictionary}, rate=0.5, seed=seed)


TEXTS = ["set the alarm for the morning", "set an alarm for the morning please", "the alarm for seven"]


def test_switching_is_seeded_and_differs_between_epochs():
    def epochs(seed):
        wrapper = SwitchingPreprocessor(None, make_switcher(seed), TEXTS)
        return [
            wrapper.switch_batch(np.array([t.encode() for t in TEXTS + ["not a source text"]], dtype=object))
            for _ in range(4)
        ]

    first, again, other = epochs(0), epochs(0), epochs(1)
    assert all((a == b).all() for a, b in zip(first, again))  # reproducible from the seed
    assert len({tuple(batch) for batch in first}) > 1  # a fresh switch each epoch
    assert any((a != b).any() for a, b in zip(first, other))
    assert all(batch[-1] == b"not a source text" for batch in first)  # e.g. pseudo-labelled target text


def test_challenge_sets_reproducible_from_their_seed(tmp_path):
    examples = [Example(t, "en", str(i), label="alarm") for i, t in enumerate(TEXTS * 3)]
    switcher = make_switcher()
    first = challenge_set(examples, switcher, "es", seed=7)
    assert first == challenge_set(examples, make_switcher(seed=3), "es", seed=7)  # the challenge seed decides
    assert first != challenge_set(examples, switcher, "es", seed=8)
    assert [e.text for e in first] != [e.text for e in examples]
    write_challenge_set(tmp_path / "en-es.jsonl", first)
    assert read_challenge_set(tmp_path / "en-es.jsonl") == first


@pytest.mark.one_backend
def test_demo_fit_with_code_switching_adversarial_self_training_and_challenge_rows(tiny_recipe, tmp_path, monkeypatch):
    from keras_clx.data import code_switch
    from keras_clx.data.demo import make_demo_corpus
    from keras_clx.experiment import fit

    served = []
    original = code_switch.SwitchingPreprocessor.switch_batch
    monkeypatch.setattr(
        code_switch.SwitchingPreprocessor,
        "switch_batch",
        lambda self, texts: served.append(len(texts)) or original(self, texts),
    )
    recipe = tiny_recipe(
        "train.code_switch.enabled=true",
        "eval.code_switched.enabled=true",
        "eval.code_switched.rate=1.0",
        "train.perturbation=adversarial",
        "train.epsilon=0.1",
        "train.self_training.enabled=true",
        "train.self_training.max_rounds=1",
        "train.self_training.k_per_class=2",
    )
    corpus = make_demo_corpus(**recipe.data.options)
    dictionaries = {}
    for lang in corpus.targets:  # a tiny lexicon: source words of the first test sentences, aligned by position
        pairs = set()
        for s, t in zip(corpus.languages["source"].test[:8], corpus.languages[lang].test[:8]):
            pairs.update(zip(s.text.split(), t.text.split()))
        dictionaries[lang] = str(write(tmp_path / f"source-{lang}.tsv", "".join(f"{a}\t{b}\n" for a, b in pairs)))
    recipe.train.code_switch.dictionaries = dictionaries
    run = fit(recipe, out_dir=tmp_path / "run", verbose=0)

    assert run.rounds is not None and len(run.rounds.rows) >= 1
    assert sum(served) >= 2 * 96  # self-training's dataset served switched batches for 2+ epochs
    challenge = [r for r in run.report.rows if r.role == "challenge"]
    assert [r.language for r in challenge] == [f"source>{lang}" for lang in corpus.targets]
    assert all(
        0.0 <= r.metrics["accuracy"] <= 1.0 and r.examples == len(corpus.languages["source"].test) for r in challenge
    )
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert [r["language"] for r in report["languages"] if r["role"] == "challenge"] == [r.language for r in challenge]
    outcomes = read_outcomes(tmp_path / "run" / outcomes_file())  # a study pairs the challenge rows too
    assert set(outcomes) == {r.language for r in run.report.rows}
    assert len(outcomes["source>near"]["ids"]) == len(corpus.languages["source"].test)
    evaluated = CliRunner().invoke(main, ["--quiet", "evaluate", str(tmp_path / "run")])  # re-scores them alike
    assert evaluated.exit_code == 0, evaluated.output
    again = json.loads((tmp_path / "run" / "report-test.json").read_text())["languages"]
    assert [(r["language"], r["metrics"]) for r in again] == [
        (r["language"], r["metrics"]) for r in report["languages"]
    ]
    files = sorted(p.name for p in (tmp_path / "run" / "challenge").iterdir())
    assert files == sorted(f"source-{lang}.test.rate1.seed0.jsonl" for lang in corpus.targets)
    switched = read_challenge_set(tmp_path / "run" / "challenge" / files[0])
    assert sum(a.text != b.text for a, b in zip(switched, corpus.languages["source"].test)) > 0
    vocabulary = set(run.model.preprocessor.tokenizer.get_vocabulary())
    translations = {
        t for path in dictionaries.values() for ts in read_dictionary(path, "x").entries.values() for t in ts
    }
    assert translations & vocabulary  # the from-scratch vocabulary learned switched words


def test_token_batches_re_switch_each_epoch_with_tags_on_first_subwords():
    from keras_clx.data.code_switch import token_switch_dataset
    from keras_clx.data.iob import IOBLabels
    from keras_clx.models.backbones import build_backbone

    examples = [
        Example("great cheese pizza and wine", "en", "1", spans=(Span(6, 18, "T"), Span(23, 27, "T"))),
        Example("the wine was great", "en", "2", spans=(Span(4, 8, "T"),)),
    ]
    switcher = CodeSwitcher(
        {"fr": Dictionary("fr", {"cheese": ("fromage de chèvre",), "wine": ("vin", "vino"), "great": ("bon",)})},
        rate=0.5,
    )
    texts = [e.text for e in examples] + ["bon fromage de chèvre pizza vin vino"]
    _, preprocessor = build_backbone("bert_tiny", texts * 3, sequence_length=16, vocabulary_size=80)
    tags = IOBLabels(["T"])
    ds = token_switch_dataset(examples, tags, preprocessor, batch_size=2, switcher=switcher, seed=0)
    epochs = [[(np.asarray(x["token_ids"]), np.asarray(y)) for x, y in ds] for _ in range(4)]
    assert all(len(e) == 1 and e[0][0].shape == (4, 16) for e in epochs)  # originals + switched copies
    assert len({e[0][0].tobytes() for e in epochs}) > 1  # another switch in another epoch
    for _ids, y in (pair for e in epochs for pair in e):
        b, i = tags.ids["B-T"], tags.ids["I-T"]
        for row in range(4):  # two entities per row 1, one per row 2: B count is kept, I only follows
            labelled = [t for t in y[row] if t >= 0]
            assert labelled.count(b) in (1, 2) and (labelled[0] != i)
    again = [
        (np.asarray(x["token_ids"]), np.asarray(y))
        for x, y in token_switch_dataset(examples, tags, preprocessor, 2, switcher, seed=0)
    ]
    assert (again[0][0] == epochs[0][0][0]).all()
