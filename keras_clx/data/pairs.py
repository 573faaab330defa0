"""Sentence-pair readers: XNLI and PAWS-X files, to `Example`s with `text_pair`.

- `read_xnli`: XTREME's `{train,dev,test}-<lang>.tsv` (`premise<TAB>hypothesis<TAB>label`,
  no header; XTREME's English train file, from MultiNLI, writes `contradictory`, read
  as `contradiction`), or the official `xnli.{dev,test}.tsv` of XNLI-1.0 (a header
  naming `language`, `gold_label`, `sentence1`, `sentence2`; one language is kept).
- `read_pawsx`: `sentence1<TAB>sentence2<TAB>label` (0/1), XTREME's files without a
  header, or the official PAWS-X release with its `id sentence1 sentence2 label` header.

Every malformed line is a `DataError` naming the file and line.
"""

import pathlib

from keras_clx.data.readers import file_id, numbered_lines
from keras_clx.data.records import Example
from keras_clx.errors import DataError

XNLI_LABELS = ("contradiction", "entailment", "neutral")
_XNLI_ALIASES = {"contradictory": "contradiction"}
PAWSX_LABELS = ("0", "1")


def _rows(path, columns):
    """`(line, fields)` of a headerless or headed TSV; `columns` names the wanted fields.

    A first line that names every wanted column is a header (its order is used);
    otherwise rows hold exactly the columns in `columns` order.
    """
    order, width = list(range(len(columns))), len(columns)
    seen = False
    for line, row in numbered_lines(path):
        if not row.strip():
            continue
        fields = row.split("\t")
        if not seen:
            seen = True
            names = [f.strip().lower() for f in fields]
            if all(c in names for c in columns):
                order, width = [names.index(c) for c in columns], len(fields)
                continue
        if len(fields) != width:
            raise DataError(
                f"expected {width} tab-separated columns ({', '.join(columns)}), found {len(fields)}", path, line
            )
        yield line, [fields[i] for i in order]
    if not seen:
        raise DataError("empty file: expected one sentence pair per line", path)


def _pair(path, line, a, b, what):
    if not a.strip():
        raise DataError(f"empty {what[0]}", path, line)
    if not b.strip():
        raise DataError(f"empty {what[1]}", path, line)
    return a, b


def read_xnli(path, language):
    """Reads an XNLI file (see the module docstring) as `language`'s examples."""
    path = pathlib.Path(path)
    prefix = file_id(path)
    official = path.name.startswith("xnli.")
    columns = ["language", "gold_label", "sentence1", "sentence2"] if official else ["premise", "hypothesis", "label"]
    examples = []
    for line, fields in _rows(path, columns):
        if official:
            lang, label, premise, hypothesis = fields
            if lang.strip() != language:
                continue
        else:
            premise, hypothesis, label = fields
        premise, hypothesis = _pair(path, line, premise, hypothesis, ("premise", "hypothesis"))
        label = _XNLI_ALIASES.get(label.strip(), label.strip())
        if label not in XNLI_LABELS:
            raise DataError(f"label {label!r} is not one of {list(XNLI_LABELS)}", path, line)
        examples.append(Example(premise, language, f"{prefix}:{line}", label=label, text_pair=hypothesis))
    if not examples:
        raise DataError(f"no {language!r} sentence pairs", path)
    return examples


def read_pawsx(path, language):
    """Reads a PAWS-X file (see the module docstring) as `language`'s examples, label `0`/`1`."""
    path = pathlib.Path(path)
    prefix = file_id(path)
    examples = []
    for line, (a, b, label) in _rows(path, ["sentence1", "sentence2", "label"]):
        a, b = _pair(path, line, a, b, ("sentence1", "sentence2"))
        if label.strip() not in PAWSX_LABELS:
            raise DataError(f"label {label.strip()!r} is not 0 or 1", path, line)
        examples.append(Example(a, language, f"{prefix}:{line}", label=label.strip(), text_pair=b))
    return examples
