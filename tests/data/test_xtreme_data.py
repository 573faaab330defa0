"""XTREME-style data: XNLI / PAWS-X pair readers, CoNLL files, their loaders and downloads."""

import pytest

from keras_clx.data import registry
from keras_clx.data.conll import read_conll
from keras_clx.data.datasets import load_corpus
from keras_clx.data.iob import spans_to_word_tags
from keras_clx.data.pairs import read_pawsx, read_xnli
from keras_clx.errors import ClxError, DataError
from keras_clx.recipes import DataConfig
from tests.helpers import make_tar, make_zip


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_xnli_xtreme_file_maps_contradictory(tmp_path):
    path = write(
        tmp_path / "train-en.tsv", "A man sleeps.\tA man rests.\tentailment\nIt rains.\tIt is dry.\tcontradictory\n"
    )
    a, b = read_xnli(path, "en")
    assert (a.text, a.text_pair, a.label, a.id) == ("A man sleeps.", "A man rests.", "entailment", "train-en:1")
    assert b.label == "contradiction" and b.inputs == ("It rains.", "It is dry.")


def test_xnli_official_file_keeps_one_language(tmp_path):
    header = "language\tgold_label\tsentence1_binary_parse\tsentence1\tsentence2\tpairID\n"
    rows = "de\tneutral\t(x)\tEr geht.\tEr läuft.\t1\nfr\tentailment\t(x)\tIl va.\tIl part.\t2\n"
    (example,) = read_xnli(write(tmp_path / "xnli.dev.tsv", header + rows), "fr")
    assert (example.text, example.text_pair, example.label, example.id) == (
        "Il va.",
        "Il part.",
        "entailment",
        "xnli.dev:3",
    )


@pytest.mark.parametrize(
    "content, message",
    [
        ("a\tb\n", r"train-en.tsv:1: expected 3 tab-separated columns \(premise, hypothesis, label\), found 2"),
        ("a\tb\tentailment\n\tb\tneutral\n", r"train-en.tsv:2: empty premise"),
        ("a\tb\tmaybe\n", r"train-en.tsv:1: label 'maybe' is not one of"),
        ("", r"train-en.tsv: empty file"),
    ],
)
def test_xnli_malformed_lines(tmp_path, content, message):
    with pytest.raises(DataError, match=message):
        read_xnli(write(tmp_path / "train-en.tsv", content), "en")


def test_pawsx_with_and_without_header(tmp_path):
    xtreme = read_pawsx(write(tmp_path / "dev-de.tsv", "Eins .\tZwei .\t1\n"), "de")
    official = read_pawsx(
        write(tmp_path / "o" / "dev-de.tsv", "id\tsentence1\tsentence2\tlabel\n7\tEins .\tZwei .\t1\n"), "de"
    )
    assert [(e.text, e.text_pair, e.label) for e in xtreme] == [(e.text, e.text_pair, e.label) for e in official]
    with pytest.raises(DataError, match=r"dev-de.tsv:2: label '2' is not 0 or 1"):
        read_pawsx(write(tmp_path / "dev-de.tsv", "a\tb\t1\na\tb\t2\n"), "de")
    with pytest.raises(DataError, match=r"dev-de.tsv:1: expected 3 tab-separated columns"):
        read_pawsx(write(tmp_path / "dev-de.tsv", "a\tb\t1\tx\n"), "de")


def test_pawsx_real_dev_files(shared_data):
    folder = shared_data / "pawsx_dev"
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    examples = read_pawsx(folder / "dev-ja.tsv", "ja")
    assert len(examples) == 2000 and sum(e.label == "1" for e in examples) == 854


CONLL = """-DOCSTART-\tO

en:John\tB-PER
en:lives\tO
en:in\tO
en:New\tB-LOC
en:York\tI-LOC
en:.\tO

en:Acme\tI-ORG
en:Corp\tI-ORG
en:en:x\tO
"""


def test_conll_iob_spans_prefix_and_docstart(tmp_path):
    first, second = read_conll(write(tmp_path / "train-en.tsv", CONLL), "en")
    assert first.words == ("John", "lives", "in", "New", "York", ".") and first.id == "train-en:3"
    assert first.text == "John lives in New York ."
    assert [(first.text[s.start : s.end], s.label) for s in first.spans] == [("John", "PER"), ("New York", "LOC")]
    assert second.words == ("Acme", "Corp", "en:x")  # only one prefix is removed
    words, tags = spans_to_word_tags(second.text, second.spans, words=second.word_offsets())
    assert tags == ["B-ORG", "I-ORG", "O"]  # a leading I- starts an entity, as in seqeval


def test_conll_plain_tags_and_columns(tmp_path):
    path = write(tmp_path / "pos.txt", "1 The DET x\n2 cat NOUN x\n\n1 Runs VERB x\n")
    a, b = read_conll(path, "en", scheme="tags", word_column=1, tag_column=2)
    assert (a.words, a.tags, b.tags) == (("The", "cat"), ("DET", "NOUN"), ("VERB",))


@pytest.mark.parametrize(
    "content, scheme, message",
    [
        ("a\tB-PER\nb\tX-PER\n", "iob", r"f.tsv:2: tag 'X-PER' is not IOB2"),
        ("a\tO\nb\n", "iob", r"f.tsv:2: expected a word and a tag, found one column"),
        ("a\tO\n \tNOUN\n", "tags", r"f.tsv:2: empty word"),
        ("\n\n", "tags", r"f.tsv: no sentences"),
    ],
)
def test_conll_malformed_lines(tmp_path, content, scheme, message):
    with pytest.raises(DataError, match=message):
        read_conll(write(tmp_path / "f.tsv", content), "en", scheme=scheme)


def test_panx_and_conll_loaders(tmp_path):
    for lang in ("en", "de"):
        for split in ("train", "dev", "test"):
            write(tmp_path / "panx" / f"{split}-{lang}.tsv", CONLL.replace("en:", f"{lang}:"))
    corpus = load_corpus(
        DataConfig(dataset="panx", task="token", sources=["en"], targets=["de"], data_dir=str(tmp_path))
    )
    assert corpus.labels.names == ["LOC", "ORG", "PER"]
    assert corpus.languages["de"].unlabeled[0].spans is not None  # unlabeled() drops it later
    assert corpus.unlabeled()[0].spans is None and corpus.unlabeled()[0].words == (
        "John",
        "lives",
        "in",
        "New",
        "York",
        ".",
    )
    with pytest.raises(ClxError, match="set data.task=token"):
        load_corpus(DataConfig(dataset="panx", sources=["en"], targets=["de"], data_dir=str(tmp_path)))
    write(tmp_path / "pos" / "en.txt", "The\tDET\ncat\tNOUN\n\nA\tDET\ndog\tNOUN\n")
    write(tmp_path / "pos" / "de.txt", "Die\tDET\nKatze\tNOUN\n")
    files = {"en": {"train": "pos/en.txt"}, "de": {"test": "pos/de.txt"}}
    corpus = load_corpus(
        DataConfig(
            dataset="conll",
            task="tagging",
            sources=["en"],
            targets=["de"],
            data_dir=str(tmp_path),
            options={"files": files},
        )
    )
    assert corpus.labels.names == ["DET", "NOUN"] and len(corpus.languages["en"].dev) == 1


def test_pawsx_loader_splits_dev_only_copy(tmp_path):
    rows = "".join(f"s{i} .\tt{i} .\t{i % 2}\n" for i in range(40))
    for lang in ("en", "de"):
        write(tmp_path / "pawsx" / f"dev-{lang}.tsv", rows)
    config = DataConfig(
        dataset="pawsx",
        task="pair",
        sources=["en"],
        targets=["de"],
        data_dir=str(tmp_path),
        options={"train_fraction": 0.5, "dev_fraction": 0.1},
    )
    corpus = load_corpus(config)
    en, de = corpus.languages["en"], corpus.languages["de"]
    assert (len(en.train), len(en.dev), len(en.test), len(de.test), len(de.unlabeled)) == (18, 2, 20, 20, 20)
    assert not {e.text for e in en.train + en.dev} & {e.text for e in en.test}
    assert corpus.labels.names == ["0", "1"] and en.train[0].text_pair is not None


def test_pair_task_needs_a_second_text(tmp_path):
    write(tmp_path / "en.tsv", "text\tlabel\na\tx\n")
    write(tmp_path / "de.tsv", "text\tlabel\nb\tx\n")
    files = {"en": {"train": "en.tsv"}, "de": {"test": "de.tsv"}}
    with pytest.raises(DataError, match="has no second text"):
        load_corpus(
            DataConfig(
                dataset="table",
                task="pair",
                sources=["en"],
                targets=["de"],
                data_dir=str(tmp_path),
                options={"files": files},
            )
        )
    write(tmp_path / "en.tsv", "text\thyp\tlabel\na\tc\tx\n")
    write(tmp_path / "de.tsv", "text\thyp\tlabel\nb\td\tx\n")
    corpus = load_corpus(
        DataConfig(
            dataset="table",
            task="pair",
            sources=["en"],
            targets=["de"],
            data_dir=str(tmp_path),
            options={"files": files, "text_pair": "hyp"},
        )
    )
    assert corpus.train[0].inputs == ("a", "c")


def test_download_registered_xnli_and_pawsx(http_server, tmp_path):
    base, www = http_server
    header = "language\tgold_label\tsentence1\tsentence2\n"
    make_zip(
        www / "xnli.zip",
        {f"XNLI-1.0/xnli.{s}.tsv": header + "de\tneutral\ta\tb\nen\tentailment\tc\td\n" for s in ("dev", "test")},
    )
    target = registry.download("xnli", data_dir=tmp_path, url=f"{base}/xnli.zip", progress=False)
    assert registry.missing_files("xnli", target) == []
    write(target / "train-en.tsv", "p\th\tcontradictory\np\th\tneutral\np\th\tentailment\n")
    corpus = load_corpus(
        DataConfig(dataset="xnli", task="pair", sources=["en"], targets=["de"], data_dir=str(tmp_path))
    )
    assert corpus.languages["de"].test[0].inputs == ("a", "b") and len(corpus.languages["en"].dev) == 1

    langs = ("de", "en", "es", "fr", "ja", "ko", "zh")
    members = {"x-final/en/train.tsv": "id\tsentence1\tsentence2\tlabel\n1\ta\tb\t1\n2\tc\td\t0\n"}
    for lang in langs:
        for split in ("dev", "test"):
            members[f"x-final/{lang}/{split}_2k.tsv"] = "id\tsentence1\tsentence2\tlabel\n1\ta\tb\t0\n"
    make_tar(www / "pawsx.tar.gz", members)
    target = registry.download("pawsx", data_dir=tmp_path, url=f"{base}/pawsx.tar.gz", progress=False)
    assert registry.missing_files("pawsx", target) == [] and (target / "test-ko.tsv").is_file()
    corpus = load_corpus(
        DataConfig(dataset="pawsx", task="pair", sources=["en"], targets=["ko"], data_dir=str(tmp_path))
    )
    assert corpus.languages["en"].train[0].label == "1" and corpus.languages["ko"].unlabeled
