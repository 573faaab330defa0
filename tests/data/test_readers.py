import collections
import json
import re

import pytest

from keras_clx.data.readers import read_mldoc, read_mtod, read_texts
from keras_clx.data.records import Span
from keras_clx.data.table import read_table
from keras_clx.errors import DataError
from tests.helpers import mtod_row


def write(tmp_path, name, *lines, newline="\n"):
    path = tmp_path / name
    path.write_bytes(newline.join(lines).encode("utf-8") + newline.encode())
    return path


def raises_at(path, line, match):
    """`pytest.raises` for a `DataError` naming `path` and `line`."""
    return pytest.raises(DataError, match=re.escape(f"{path}:{line}: ") + f".*{match}")


# --- MTOD ---------------------------------------------------------------------


def test_mtod_reads_intents_spans_and_languages(tmp_path):
    path = write(
        tmp_path,
        "train-es.tsv",
        mtod_row(slots="19:41:datetime", text="Colocar una alarma para mañana a las 3 am ", tag="es_XX"),
        mtod_row(intent="weather/find", text="¿Qué tiempo hace?", tag="es_XX"),
        mtod_row(slots="0:6:datetime,7:9:location", text="ตั้งนาฬิกา ไป", tag="th_TH"),
    )
    first, second, third = read_mtod(path)
    assert first.label == "alarm/set_alarm"
    assert first.spans == (Span(19, 41, "datetime"),)
    assert first.text[19:41] == "para mañana a las 3 am"
    assert first.text.endswith(" ")
    assert (first.language, first.id) == ("es", "train-es:1")
    assert second.spans == () and second.label == "weather/find"
    assert third.language == "th" and [s.label for s in third.spans] == ["datetime", "location"]
    assert [e.language for e in read_mtod(path, language="xx")] == ["xx"] * 3


def test_mtod_blank_lines_skipped_and_crlf_accepted(tmp_path):
    path = write(tmp_path, "eval-en.tsv", mtod_row(), "", mtod_row(intent="x"), newline="\r\n")
    examples = read_mtod(path)
    assert [e.id for e in examples] == ["eval-en:1", "eval-en:3"]
    assert examples[0].text == "set an alarm"


@pytest.mark.parametrize(
    "row, match",
    [
        ("alarm/set_alarm\t\tset an alarm\ten_XX", "expected 5 tab-separated columns"),
        (mtod_row() + "\textra", "found 6"),
        (mtod_row(slots="0-3:datetime"), "bad slot span '0-3:datetime'"),
        (mtod_row(slots="a:3:datetime"), "must be integers"),
        (mtod_row(slots="0:3:"), "bad slot span"),
        (mtod_row(slots="4:4:datetime"), "empty slot span"),
        (mtod_row(slots="20:25:datetime"), "outside the text"),
        (mtod_row(tokens="{not json"), "not valid JSON"),
        (mtod_row(intent=" "), "empty intent"),
        (mtod_row(text=""), "empty utterance"),
    ],
)
def test_mtod_malformed_rows_name_file_and_line(tmp_path, row, match):
    path = write(tmp_path, "test-en.tsv", mtod_row(), "", row)
    with raises_at(path, 3, match):
        read_mtod(path)


def test_mtod_span_sticking_out_is_clipped_or_strict_error(tmp_path):
    path = write(tmp_path, "test-es.tsv", mtod_row(slots="-2:3:datetime,7:20:datetime"))
    with pytest.warns(UserWarning) as record:
        (example,) = read_mtod(path)
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert "test-es.tsv:1: slot span '-2:3:datetime'" in messages[0]
    assert "clipped to 0:3" in messages[0]
    assert "clipped to 7:12" in messages[1]
    assert example.spans == (Span(0, 3, "datetime"), Span(7, 12, "datetime"))
    with raises_at(path, 1, "extends outside the text"):
        read_mtod(path, strict=True)


def test_missing_file_and_bad_encoding(tmp_path):
    with pytest.raises(DataError, match="nothere.tsv: file not found"):
        read_mtod(tmp_path / "nothere.tsv")
    path = tmp_path / "eval-en.tsv"
    latin1 = mtod_row(text="caf\xe9").encode("latin-1")
    path.write_bytes(mtod_row().encode() + b"\n" + latin1 + b"\n")
    with raises_at(path, 2, "not valid UTF-8"):
        read_mtod(path)


# --- MLDoc --------------------------------------------------------------------


def test_mldoc_language_from_file_name_and_ids(tmp_path):
    path = write(tmp_path, "english.train.1000", "CCAT\tShares rose.", "GCAT\tVote\twith a tab.")
    examples = read_mldoc(path)
    assert [(e.label, e.text, e.language) for e in examples] == [
        ("CCAT", "Shares rose.", "en"),
        ("GCAT", "Vote\twith a tab.", "en"),
    ]
    assert examples[0].id == "english.train.1000:1"
    assert read_mldoc(write(tmp_path, "german.test", "MCAT\tKurse."))[0].language == "de"
    assert read_mldoc(write(tmp_path, "chinese.dev", "ECAT\t经济"))[0].language == "zh"


def test_mldoc_unknown_file_name_needs_language(tmp_path):
    path = write(tmp_path, "news.tsv", "CCAT\ttext")
    with pytest.raises(DataError, match="news.tsv: cannot infer the language"):
        read_mldoc(path)
    assert read_mldoc(path, language="pt")[0].language == "pt"


def test_mldoc_bytes_literal_texts_are_decoded(tmp_path):
    literal = repr("München hält.".encode())
    path = write(tmp_path, "german.train.1000", f"ECAT\t{literal}")
    assert read_mldoc(path)[0].text == "München hält."


@pytest.mark.parametrize(
    "row, match",
    [
        ("CCAT only a label", "expected 2 tab-separated columns"),
        ("\ttext", "empty label"),
        ("CCAT\t ", "empty text"),
    ],
)
def test_mldoc_malformed_rows(tmp_path, row, match):
    path = write(tmp_path, "french.dev", "CCAT\tok", row)
    with raises_at(path, 2, match):
        read_mldoc(path)


# --- tables -------------------------------------------------------------------


def test_csv_with_quotes_multiline_fields_and_columns(tmp_path):
    path = write(
        tmp_path,
        "reviews.csv",
        "sentence,polarity,lang,key",
        '"good, really",pos,en,a',
        '"two',
        'lines",neg,de,b',
        "plain,neu,fr,c",
    )
    examples = read_table(path, text="sentence", label="polarity", language="lang")
    assert [(e.text, e.label, e.language) for e in examples] == [
        ("good, really", "pos", "en"),
        ("two\nlines", "neg", "de"),
        ("plain", "neu", "fr"),
    ]
    assert [e.id for e in examples] == ["reviews:2", "reviews:3", "reviews:5"]
    keyed = read_table(path, text="sentence", language="lang", id="key")
    assert [e.id for e in keyed] == ["a", "b", "c"]
    assert read_table(path, text="sentence", language="lang")[0].label is None


def test_tsv_keeps_quotes_as_text(tmp_path):
    path = write(tmp_path, "tweets.tsv", "text\tlabel", '"Hello" he said\t2')
    (example,) = read_table(path, label="label", default_language="en")
    assert (example.text, example.label, example.language) == ('"Hello" he said', "2", "en")


def test_jsonl_numbers_become_strings(tmp_path):
    rows = [{"text": "hola", "label": 2, "id": 7}, {"text": "adiós", "label": "0", "id": 8}]
    path = write(tmp_path, "data.json-lines", *(json.dumps(r, ensure_ascii=False) for r in rows))
    examples = read_table(path, label="label", id="id", default_language="es")
    assert [(e.text, e.label, e.id) for e in examples] == [("hola", "2", "7"), ("adiós", "0", "8")]
    assert read_table(path, format="jsonl", default_language="es")[1].id == "data:2"


def test_format_from_argument_or_error(tmp_path):
    path = write(tmp_path, "data.txt", "text", "hello")
    assert read_table(path, format="csv", default_language="en")[0].text == "hello"
    with pytest.raises(DataError, match="data.txt: cannot tell the format"):
        read_table(path, default_language="en")
    with pytest.raises(DataError, match="unknown table format 'xml'"):
        read_table(path, format="xml", default_language="en")
    with pytest.raises(DataError, match="no language"):
        read_table(path, format="csv")


def test_missing_column_names_columns_present(tmp_path):
    path = write(tmp_path, "data.csv", "sentence,label", "hi,pos")
    with raises_at(path, 1, r"missing column 'text'; columns present: \['sentence', 'label'\]"):
        read_table(path, label="label", default_language="en")
    path = write(tmp_path, "data.jsonl", '{"text": "a", "label": "x"}', '{"text": "b"}')
    with raises_at(path, 2, r"missing label column 'label'; columns present: \['text'\]"):
        read_table(path, label="label", default_language="en")


@pytest.mark.parametrize(
    "name, lines, line, match",
    [
        ("d.csv", ["text,label", "a,x", "b,x,extra"], 3, "expected 2 columns .* found 3"),
        ("d.csv", ["text,label", "a,x", "b,"], 3, "empty label in column 'label'"),
        ("d.csv", ["text,label", ",x"], 2, "empty text"),
        ("d.csv", ["text,label", 'a,"x"y'], 2, "malformed CSV"),
        ("d.tsv", ["text\tlabel", "a"], 2, "expected 2 columns"),
        ("d.jsonl", ['{"text": "a", "label": "x"}', '{"text": "b", "label": '], 2, "invalid JSON"),
        ("d.jsonl", ['["a", "x"]'], 1, "expected a JSON object"),
        ("d.jsonl", ['{"text": "a", "label": null}'], 1, "must be a string"),
        ("d.jsonl", ['{"text": "a", "label": ""}'], 1, "empty label"),
    ],
)
def test_table_malformed_rows(tmp_path, name, lines, line, match):
    path = write(tmp_path, name, *lines)
    with raises_at(path, line, match):
        read_table(path, label="label", default_language="en")


def test_duplicate_ids_and_empty_csv(tmp_path):
    path = write(tmp_path, "d.csv", "text,id", "a,1", "b,1")
    with raises_at(path, 3, r"duplicate id '1' \(first on line 2\)"):
        read_table(path, id="id", default_language="en")
    empty = write(tmp_path, "e.csv", "")
    with pytest.raises(DataError, match="e.csv: empty CSV file"):
        read_table(empty, default_language="en")


def test_read_texts_skips_blank_lines(tmp_path):
    path = write(tmp_path, "unlabeled-th.txt", "  first text ", "", "   ", "second")
    examples = read_texts(path, "th")
    assert [(e.text, e.id, e.language) for e in examples] == [
        ("first text", "unlabeled-th:1", "th"),
        ("second", "unlabeled-th:4", "th"),
    ]
    assert not any(e.is_labeled for e in examples)


# --- the real MTOD release ------------------------------------------------------------

MTOD_COUNTS = {
    ("en", "eval"): 4181,
    ("en", "test"): 8621,
    ("es", "train"): 3617,
    ("es", "eval"): 1983,
    ("es", "test"): 3043,
    ("th", "train"): 2156,
    ("th", "eval"): 1235,
    ("th", "test"): 1692,
}

MTOD_INTENTS = {
    "alarm/cancel_alarm",
    "alarm/modify_alarm",
    "alarm/set_alarm",
    "alarm/show_alarms",
    "alarm/snooze_alarm",
    "alarm/time_left_on_alarm",
    "reminder/cancel_reminder",
    "reminder/set_reminder",
    "reminder/show_reminders",
    "weather/checkSunrise",
    "weather/checkSunset",
    "weather/find",
}


def mtod_path(root, language, split):
    return root / "multilingual_task_oriented_dialog" / language / f"{split}-{language}.tsv"


@pytest.mark.filterwarnings("ignore:.*clipped to")
@pytest.mark.parametrize("language, split", sorted(MTOD_COUNTS))
def test_real_mtod_counts_languages_and_spans(shared_data, language, split):
    examples = read_mtod(mtod_path(shared_data, language, split))
    assert len(examples) == MTOD_COUNTS[(language, split)]
    assert {e.language for e in examples} == {language}
    assert {e.label for e in examples} <= MTOD_INTENTS
    assert len({e.id for e in examples}) == len(examples)
    for e in examples:
        assert all(0 <= s.start < s.end <= len(e.text) for s in e.spans), e.id


@pytest.mark.filterwarnings("ignore:.*clipped to")
def test_real_mtod_intents_and_class_counts(shared_data):
    labels = {key: collections.Counter(e.label for e in read_mtod(mtod_path(shared_data, *key))) for key in MTOD_COUNTS}
    assert set().union(*labels.values()) == MTOD_INTENTS
    thai = labels[("th", "train")] + labels[("th", "eval")] + labels[("th", "test")]
    assert thai["weather/checkSunrise"] == thai["weather/checkSunset"] == 0
    assert labels[("en", "test")]["weather/checkSunrise"] == 34
    assert labels[("en", "test")]["weather/checkSunset"] == 54
    es_test = labels[("es", "test")]
    assert es_test["weather/find"] == 1025
    assert es_test["reminder/set_reminder"] == 646
    assert es_test["alarm/set_alarm"] == 543


def test_real_mtod_negative_span_is_clipped(shared_data):
    path = mtod_path(shared_data, "es", "test")
    with pytest.warns(UserWarning, match="test-es.tsv:387: slot span '-2:30:datetime'"):
        examples = {e.id: e for e in read_mtod(path)}
    example = examples["test-es:387"]
    span = example.spans[0]
    assert example.text[span.start : span.end] == "El martes de la próxima semana"
    with raises_at(path, 387, "extends outside the text"):
        read_mtod(path, strict=True)
