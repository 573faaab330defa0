"""Readers from files to lists of `Example`.

Every reader raises `DataError` naming the file and the 1-based line of the
first malformed record. Files are read as UTF-8 (a leading byte-order mark is
ignored); lines end at `\\n` only, with a trailing `\\r` removed, so a stray
`\\r` or Unicode line separator inside a text never splits a record.

- `read_mtod`: Schuster et al. multilingual task-oriented dialog TSV (intents + slot spans).
- `read_mldoc`: MLDoc `label<TAB>text` files (`english.train.1000`, `german.test`, ...).
- `read_table` (in `table.py`): any CSV / TSV / JSON-lines file, given the names of its columns.
- `read_texts`: plain text, one unlabelled text per line.
"""

import ast
import json
import pathlib
import re
import warnings

from keras_clx.data import languages
from keras_clx.data.records import Example, Span
from keras_clx.errors import DataError

MLDOC_LANGUAGES = {name: code for code, name in languages.names(languages.MLDOC).items()}


_TEXT_SUFFIXES = (".tsv", ".csv", ".jsonl", ".json-lines", ".txt")
_BYTES_LITERAL = re.compile(r"""^b(['"]).*\1$""", re.DOTALL)
# CSV fields as long as a line may be (the default limit is 128 KiB; JSON lines have none).


def file_id(path):
    """Id prefix of a file: its name without a text-format extension.

    `train-es.tsv` → `train-es`, but `english.train.1000` keeps its full name
    (so that `.train.1000` and `.train.10000` files never share ids).
    """
    name = path.name
    for suffix in _TEXT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def numbered_lines(path):
    """Yields `(line_number, line)` for each line of a UTF-8 file, newline removed."""
    path = pathlib.Path(path)
    try:
        with open(path, "rb") as f:
            for number, raw in enumerate(f, start=1):
                if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                raw = raw.rstrip(b"\n")
                if raw.endswith(b"\r"):
                    raw = raw[:-1]
                try:
                    yield number, raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise DataError(f"not valid UTF-8 ({e.reason} at byte {e.start})", path, number) from None
    except FileNotFoundError:
        raise DataError("file not found", path) from None
    except IsADirectoryError:
        raise DataError("is a directory, expected a file", path) from None
    except PermissionError:
        raise DataError("cannot read the file (permission denied)", path) from None


def _parse_spans(field, text, path, line, strict):
    """Slot spans `start:end:type,...` of one MTOD row, checked against `text`."""
    spans = []
    if not field.strip():
        return spans
    for item in field.split(","):
        parts = item.strip().split(":")
        if len(parts) != 3 or not parts[2]:
            raise DataError(f"bad slot span {item!r}: expected 'start:end:type'", path, line)
        try:
            start, end = int(parts[0]), int(parts[1])
        except ValueError:
            raise DataError(f"bad slot span {item!r}: start and end must be integers", path, line) from None
        if start >= end:
            raise DataError(f"empty slot span {item!r}: start must be < end", path, line)
        if end <= 0 or start >= len(text):
            raise DataError(
                f"slot span {item!r} lies outside the text (length {len(text)}): {text!r}",
                path,
                line,
            )
        if start < 0 or end > len(text):
            clipped = (max(start, 0), min(end, len(text)))
            message = f"slot span {item!r} extends outside the text (length {len(text)})"
            if strict:
                raise DataError(message, path, line)
            warnings.warn(
                f"{path}:{line}: {message}; clipped to {clipped[0]}:{clipped[1]}",
                stacklevel=3,
            )
            start, end = clipped
        spans.append(Span(start, end, parts[2]))
    return spans


def read_mtod(path, language=None, strict=False):
    """Reads a multilingual task-oriented dialog TSV file (Schuster et al., 2019).

    Columns: intent, slot spans `start:end:type` separated by commas (character
    offsets into the utterance, end exclusive; may be empty), utterance,
    language tag (`en_XX`, `es_XX`, `th_TH`), JSON tokenisation (checked to be
    JSON, not kept). The utterance is kept verbatim (some end in a space).

    Quirks of the release, checked on all eight shared files:
    `es/test-es.tsv` line 387 has the span `-2:30:datetime`; a span that
    sticks out of the text is clipped to it with a warning (here to `0:30`,
    "El martes de la próxima semana"), or is a `DataError` when `strict=True`.
    Spans entirely outside the text or empty are always errors. All other
    spans are in range and kept as released, including annotation slips: 45
    Spanish spans and 1 English span start or end inside a word, mostly off
    by one or two characters (`ara las 7 pm` for `para las 7 pm`, ` calo` for
    `calor` in `es/test-es.tsv` line 1669), and 17 spans begin or end with a
    space (` 8`). Token-level tagging absorbs most of them.

    Args:
        path: the `.tsv` file.
        language: language code for every example; default: the part of the
            language tag before `_` (`th_TH` → `th`).
        strict: raise on spans that stick out of the text instead of clipping.

    Returns:
        A list of `Example` with `label` = intent, `spans` = tuple of `Span`
        (empty when the utterance has no slot), and `id` = `"<file stem>:<line>"`.
    """
    path = pathlib.Path(path)
    prefix = file_id(path)
    examples = []
    for line, row in numbered_lines(path):
        if not row.strip():
            continue
        columns = row.split("\t")
        if len(columns) != 5:
            raise DataError(
                f"expected 5 tab-separated columns (intent, slots, utterance, language, tokens), found {len(columns)}",
                path,
                line,
            )
        intent, slots, text, tag, tokens = columns
        intent = intent.strip()
        if not intent:
            raise DataError("empty intent label", path, line)
        if not text.strip():
            raise DataError("empty utterance", path, line)
        lang = language or tag.strip().split("_")[0]
        if not lang:
            raise DataError("empty language tag (column 4); pass language=", path, line)
        try:
            json.loads(tokens)
        except json.JSONDecodeError as e:
            raise DataError(f"column 5 is not valid JSON: {e}", path, line) from None
        spans = _parse_spans(slots, text, path, line, strict)
        examples.append(Example(text, lang, f"{prefix}:{line}", label=intent, spans=tuple(spans)))
    return examples


def _mldoc_text(text, path, line):
    """The document text, undoing the `b'...'` wrapping of MLDoc's Python 3 script.

    `generate_documents.py` writes `doc.encode('utf-8')` into a format string,
    which under Python 3 stores the bytes literal (`b'Die Firma ...\\xc3\\xa4...'`).
    """
    if not _BYTES_LITERAL.match(text):
        return text
    try:
        return ast.literal_eval(text).decode("utf-8")
    except (ValueError, SyntaxError, UnicodeDecodeError) as e:
        raise DataError(f"text looks like a bytes literal but cannot be decoded: {e}", path, line) from None


def read_mldoc(path, language=None):
    """Reads an MLDoc file (Schwenk & Li, 2018): one `label<TAB>text` per line.

    The language comes from the file name (`english.train.1000` → `en`, for the
    eight MLDoc languages) unless `language` is given. Texts written by the
    MLDoc script under Python 3 as bytes literals (`b'...'`) are decoded.
    A tab inside the text is kept (only the first tab separates the label).

    Returns:
        A list of `Example` with `id` = `"<file name>:<line>"`.
    """
    path = pathlib.Path(path)
    if language is None:
        stem = path.name.split(".")[0].lower()
        language = MLDOC_LANGUAGES.get(stem)
        if language is None:
            raise DataError(
                f"cannot infer the language from the file name {path.name!r} (expected one "
                f"of {sorted(MLDOC_LANGUAGES)} before the first '.'); pass language=",
                path,
            )
    prefix = file_id(path)
    examples = []
    for line, row in numbered_lines(path):
        if not row.strip():
            continue
        if "\t" not in row:
            raise DataError("expected 2 tab-separated columns (label, text), found 1", path, line)
        label, text = row.split("\t", 1)
        label = label.strip()
        if not label:
            raise DataError("empty label", path, line)
        text = _mldoc_text(text, path, line)
        if not text.strip():
            raise DataError("empty text", path, line)
        examples.append(Example(text, language, f"{prefix}:{line}", label=label))
    return examples


def read_texts(path, language):
    """Reads unlabelled texts, one per line; blank lines are skipped.

    Surrounding whitespace is removed; `id` = `"<file>:<line>"`.
    """
    path = pathlib.Path(path)
    prefix = file_id(path)
    return [Example(row.strip(), language, f"{prefix}:{line}") for line, row in numbered_lines(path) if row.strip()]
