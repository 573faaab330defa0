"""One-line data errors for malformed tables, and example ids unique across a whole corpus."""

import csv
import re

import pytest

from keras_clx.data.datasets import load_corpus
from keras_clx.data.readers import read_mtod
from keras_clx.data.table import read_table
from keras_clx.errors import DataError
from keras_clx.recipes import DataConfig


def test_repeated_header_column_names_the_file_and_both_columns(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,label,text\nfine,pos,also\n")
    message = re.escape(f"{path}:1: column name 'text' appears twice") + r".*columns 1 and 3"
    with pytest.raises(DataError, match=message):
        read_table(path, label="label", default_language="en")
    tsv = tmp_path / "reviews.tsv"
    tsv.write_text("id\ttext\tid\n1\tx\t2\n")
    with pytest.raises(DataError, match="column name 'id' appears twice"):
        read_table(tsv, default_language="en")


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("header.csv", "text,label\n", "CSV file has a header row but no records"),
        ("header.tsv", "text\tlabel\n\n\n", "TSV file has a header row but no records"),
        ("blank.jsonl", "\n\n", "empty JSON-lines file"),
        ("empty.csv", "", "empty CSV file: expected a header row"),
    ],
)
def test_header_only_and_empty_tables(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=re.escape(f"{path}: {message}")):
        read_table(path, label="label", default_language="en")


def test_a_directory_given_as_a_file(tmp_path):
    folder = tmp_path / "train.csv"
    folder.mkdir()
    with pytest.raises(DataError, match=re.escape(f"{folder}: is a directory, expected a file")):
        read_table(folder, default_language="en")
    with pytest.raises(DataError, match="is a directory"):
        read_mtod(folder)
    config = DataConfig(
        dataset="table",
        sources=["en"],
        targets=[],
        data_dir=str(tmp_path),
        options={"files": {"en": {"train": "train.csv"}}},
    )
    with pytest.raises(DataError, match=re.escape(f"{folder}: is a directory, expected a file")):
        load_corpus(config)


def test_csv_fields_as_long_as_json_lines(tmp_path):
    long_text = "word " * 60_000  # 300 kB, over csv's default 128 KiB field limit
    path = tmp_path / "long.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([["text", "label"], [long_text, "pos"]])
    assert read_table(path, label="label", default_language="en")[0].text == long_text


@pytest.mark.one_backend
def test_ids_are_unique_across_languages_whose_files_share_a_name(tmp_path):
    for lang, rows in (
        ("en", ["good,pos", "bad,neg"]),
        ("de", ["gut,pos", "schlecht,neg"]),
        ("fr", ["bon,pos", "mauvais,neg"]),
    ):
        (tmp_path / lang).mkdir()
        (tmp_path / lang / "train.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
        (tmp_path / lang / "test.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
    files = {lang: {"train": f"{lang}/train.csv", "test": f"{lang}/test.csv"} for lang in ("en", "de", "fr")}
    files["en"]["dev"] = "en/train.csv"  # the same file in two splits
    config = DataConfig(
        dataset="table", sources=["en"], targets=["de", "fr"], data_dir=str(tmp_path), options={"files": files}
    )
    corpus = load_corpus(config)
    everything = [
        e
        for data in corpus.languages.values()
        for split in (data.train, data.dev, data.test, data.unlabeled)
        for e in split
    ]
    ids = [e.id for e in everything]
    assert len(set(ids)) == len(ids) == 14
    assert [e.id for e in corpus.unlabeled()] == ["de/train:2", "de/train:3", "fr/train:2", "fr/train:3"]
    assert [e.id for e in corpus.languages["en"].dev] == ["en/train:2#2", "en/train:3#2"]


@pytest.mark.one_backend
@pytest.mark.parametrize(
    "files, message",
    [
        ({"train.csv": "text,label,label\ngood,pos,neg\n"}, "train.csv:1: column name 'label' appears twice"),
        ({"train.csv": "text,label\n"}, "train.csv: CSV file has a header row but no records"),
        ({"train.csv/": ""}, "train.csv: is a directory, expected a file"),
    ],
)
def test_cli_data_errors_are_one_line_exit_2_and_remove_nothing(tmp_path, files, message):
    from click.testing import CliRunner

    from keras_clx.cli import main

    for name, text in files.items():
        if name.endswith("/"):
            (tmp_path / name).mkdir()
        else:
            (tmp_path / name).write_text(text)
    (tmp_path / "test.csv").write_text("text,label\ngut,pos\n")
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    options = "{'files': {'en': {'train': 'train.csv'}, 'de': {'test': 'test.csv'}}}"
    result = CliRunner().invoke(
        main,
        [
            "--quiet",
            "fit",
            "demo",
            "--set",
            "data.dataset=table",
            "--set",
            "data.sources=en",
            "--set",
            "data.targets=de",
            "--set",
            f"data.options={options}",
            "--data-dir",
            str(tmp_path),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output
    assert (out / "notes.txt").read_text() == "mine"
