"""`read_table`: any CSV / TSV / JSON-lines file, given the names of its columns.

Errors name the file and the 1-based line of the first malformed record, as the
other readers' (`readers.py`).
"""

import csv
import json
import pathlib
import sys

from keras_clx.data.readers import file_id, numbered_lines
from keras_clx.data.records import Example
from keras_clx.errors import DataError

TABLE_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".json-lines": "jsonl",
}
_FIELD_SIZE_LIMIT = min(sys.maxsize, 2**31 - 1)


def _table_format(path, format):
    if format is not None:
        if format not in set(TABLE_FORMATS.values()):
            raise DataError(
                f"unknown table format {format!r}; expected one of {sorted(set(TABLE_FORMATS.values()))}",
                path,
            )
        return format
    for suffix, name in TABLE_FORMATS.items():
        if path.name.lower().endswith(suffix):
            return name
    raise DataError(
        f"cannot tell the format from the extension; expected one of "
        f"{sorted(TABLE_FORMATS)} or format= one of {sorted(set(TABLE_FORMATS.values()))}",
        path,
    )


def _csv_rows(path, delimiter, columns):
    """Yields `(line, dict)` for each record of a CSV/TSV file with a header row.

    The header must name every column in `columns`, each name once, and be
    followed by at least one record. TSV is read without quoting (as GLUE and
    XNLI files are): quotes are part of the text.
    """
    kind = "TSV" if delimiter == "\t" else "CSV"
    if csv.field_size_limit() < _FIELD_SIZE_LIMIT:
        csv.field_size_limit(_FIELD_SIZE_LIMIT)
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    lines = (row + "\n" for _, row in numbered_lines(path))
    reader = csv.reader(lines, delimiter=delimiter, quoting=quoting, strict=True)
    header = None
    end = records = 0
    try:
        for record in reader:
            start, end = end + 1, reader.line_num
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            if header is None:
                header = record
                for i, name in enumerate(header):
                    if name in header[:i]:
                        raise DataError(
                            f"column name {name!r} appears twice in the header (columns "
                            f"{header.index(name) + 1} and {i + 1}); names must be distinct",
                            path,
                            start,
                        )
                for column in columns:
                    if column not in header:
                        raise DataError(f"missing column {column!r}; columns present: {header}", path, start)
                continue
            if len(record) != len(header):
                raise DataError(
                    f"expected {len(header)} columns as in the header, found {len(record)}",
                    path,
                    start,
                )
            records += 1
            yield start, dict(zip(header, record))
    except csv.Error as e:
        raise DataError(f"malformed {kind}: {e}", path, reader.line_num) from None
    if header is None:
        raise DataError(f"empty {kind} file: expected a header row with column names", path)
    if not records:
        raise DataError(f"{kind} file has a header row but no records", path)


def _jsonl_rows(path):
    """Yields `(line, dict)` for each JSON object of a JSON-lines file (at least one)."""
    records = 0
    for line, row in numbered_lines(path):
        if not row.strip():
            continue
        try:
            record = json.loads(row)
        except json.JSONDecodeError as e:
            raise DataError(f"invalid JSON: {e}", path, line) from None
        if not isinstance(record, dict):
            raise DataError(f"expected a JSON object per line, found {type(record).__name__}", path, line)
        records += 1
        yield line, record
    if not records:
        raise DataError("empty JSON-lines file: expected one JSON object per line", path)


def _field(record, column, path, line, what):
    """The value of `column` as a non-empty string."""
    if column not in record:
        raise DataError(f"missing {what} column {column!r}; columns present: {list(record)}", path, line)
    value = record[column]
    if value is None or isinstance(value, (dict, list)):
        raise DataError(f"{what} column {column!r} must be a string, found {value!r}", path, line)
    value = str(value)
    if not value.strip():
        raise DataError(f"empty {what} in column {column!r}", path, line)
    return value


def read_table(
    path,
    text="text",
    label=None,
    language=None,
    id=None,
    format=None,
    default_language=None,
    text_pair=None,
):
    """Reads a CSV, TSV or JSON-lines file with named columns.

    CSV and TSV files need a header row; TSV is read without quote handling.
    Numbers in JSON (e.g. label `2`) become strings.

    Args:
        path: the file.
        text: name of the text column.
        label: name of the label column, or `None` for unlabelled text.
        language: name of the column holding each row's language code.
        id: name of the column with each row's id; default `"<file>:<line>"`.
            Ids must be unique in the file.
        format: `"csv"`, `"tsv"` or `"jsonl"`; default from the extension
            (`.csv`, `.tsv`, `.jsonl`, `.json-lines`).
        default_language: language of every row when `language` is not given.
        text_pair: name of the column with the second text of a sentence pair.

    Returns:
        A list of `Example`.
    """
    path = pathlib.Path(path)
    format = _table_format(path, format)
    if language is None and default_language is None:
        raise DataError("no language: pass language= (a column) or default_language=", path)
    if format == "jsonl":
        rows = _jsonl_rows(path)
    else:
        columns = [c for c in (text, text_pair, label, language, id) if c is not None]
        rows = _csv_rows(path, "," if format == "csv" else "\t", columns)
    prefix = file_id(path)
    seen = {}
    examples = []
    for line, record in rows:
        value = _field(record, text, path, line, "text")
        tag = _field(record, label, path, line, "label") if label is not None else None
        if language is not None:
            lang = _field(record, language, path, line, "language")
        else:
            lang = default_language
        if id is not None:
            key = _field(record, id, path, line, "id")
            if key in seen:
                raise DataError(f"duplicate id {key!r} (first on line {seen[key]})", path, line)
            seen[key] = line
        else:
            key = f"{prefix}:{line}"
        pair = _field(record, text_pair, path, line, "text_pair") if text_pair is not None else None
        examples.append(Example(value, lang, key, label=tag, text_pair=pair))
    return examples
