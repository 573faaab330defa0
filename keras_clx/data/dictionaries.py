"""Bilingual dictionaries for code-switching: source word -> translations.

Three line formats, detected per line:

- `target @ source` (hunalign, as in the MUSE copies `en-<xx>.dict`): `order="target-source"`;
- `source target` (MUSE's own `<src>-<tgt>.txt`, one space or tab): `order="source-target"`;
- `source<TAB>target` (plain TSV; a translation may then hold spaces).

`order` says which column is the source (English) word; the default `"auto"` takes
`target-source` for files with `@` lines and `source-target` otherwise. A source
word is keyed as the recipe's tokenizer sees words: lower-cased and cut by
`iob.split_words`; entries whose source side splits into several words (`u.s.`,
`don't`) can never match one word and are dropped (counted in `skipped`). Blank
lines and lines starting with `#` are ignored; any other line that is not one
of the formats is a `DataError` naming the file and line.

`"muse"` as a path means `$CLX_DATA_DIR/muse_dictionaries/dict/en-<lang>.dict`.
"""

import dataclasses
import functools
import os
import pathlib

from keras_clx.data.iob import split_words
from keras_clx.data.languages import CODES
from keras_clx.data.readers import numbered_lines
from keras_clx.errors import DataError

MUSE_DIR = "muse_dictionaries/dict"


@dataclasses.dataclass
class Dictionary:
    """Translations of source words into one language.

    Attributes:
        language: the target language code.
        entries: `{source word: (translation, ...)}` in file order, no duplicates.
        path: the file it was read from (or None).
        skipped: entries dropped because their source side is not one word.
    """

    language: str
    entries: dict
    path: object = None
    skipped: int = 0

    def __len__(self):
        return len(self.entries)

    def translations(self, word):
        """Translations of `word` (looked up lower-cased), or an empty tuple."""
        return self.entries.get(word.lower(), ())


def muse_path(language, data_dir=None):
    """The MUSE file `en-<code>.dict` under `data_dir` (default `$CLX_DATA_DIR`); `language` is a
    code (`ar`) or the English name some data sets use (`arabic`)."""
    root = data_dir or os.environ.get("CLX_DATA_DIR")
    if not root:
        raise DataError(f"dictionary 'muse' for {language!r} needs CLX_DATA_DIR (or data.data_dir)")
    folder = pathlib.Path(root) / MUSE_DIR
    path = folder / f"en-{CODES.get(str(language).lower(), language)}.dict"
    if not path.is_file():
        have = sorted(p.stem.split("-", 1)[1] for p in folder.glob("en-*.dict"))
        raise DataError(
            f"MUSE dictionary not found (train.code_switch.dictionaries names a file per language; MUSE has: "
            f"{', '.join(have) or 'none'})",
            path=path,
        )
    return path


def _parse(line, order):
    """(source, target) of one line, or None if it is not a dictionary line."""
    if "\t" in line:
        parts = line.split("\t")
        if len(parts) != 2 or not all(p.strip() for p in parts):
            return None
        source, target = parts[0].strip(), parts[1].strip()
        return (target, source) if order == "target-source" else (source, target)
    parts = line.split()
    if len(parts) == 3 and parts[1] == "@":
        return (parts[2], parts[0]) if order != "source-target" else (parts[0], parts[2])
    if len(parts) == 2 and "@" not in parts:
        return (parts[1], parts[0]) if order == "target-source" else (parts[0], parts[1])
    return None


def read_dictionary(path, language, order="auto", lowercase=True):
    """Reads a dictionary file (see the module docstring for the formats).

    Args:
        path: the file, or `"muse"` for the shared MUSE file of `language`.
        language: the target language code the translations are in.
        order: `"auto"`, `"target-source"` (hunalign `target @ source`) or
            `"source-target"` (which column holds the source word).
        lowercase: key source words lower-cased (as an uncased tokenizer sees them).

    Returns:
        A `Dictionary`.
    """
    if order not in ("auto", "target-source", "source-target"):
        raise DataError(f"dictionary order must be auto, target-source or source-target, got {order!r}")
    path = muse_path(language) if str(path) == "muse" else pathlib.Path(path)
    if not path.exists():
        raise DataError("dictionary file not found", path=path)
    entries, skipped = {}, 0
    for number, raw in numbered_lines(path):  # UTF-8 (a byte-order mark and CRLF endings allowed)
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pair = _parse(raw, order)
        if pair is None:
            raise DataError(
                f"not a dictionary line (expected 'target @ source', 'source target' or "
                f"'source<TAB>target'): {line[:60]!r}",
                path=path,
                line=number,
            )
        source, target = pair
        words = split_words(source.lower() if lowercase else source)
        if len(words) != 1:
            skipped += 1
            continue
        known = entries.setdefault(words[0][0], [])
        if target not in known:
            known.append(target)
    return Dictionary(language, {k: tuple(v) for k, v in entries.items()}, path, skipped)


def recipe_dictionaries(spec, targets, data_dir=None):
    """`load_dictionaries` of a recipe's `{language: path or "muse"}` (empty: MUSE for every
    target), cached per process: fine-tuning, its vocabulary and pretraining read a file once."""
    spec = spec or {language: "muse" for language in targets}
    return _cached_dictionaries(tuple(sorted((k, str(v)) for k, v in spec.items())), data_dir)


@functools.lru_cache(maxsize=16)
def _cached_dictionaries(items, data_dir):
    return load_dictionaries(dict(items), data_dir)


def load_dictionaries(spec, data_dir=None):
    """`{language: Dictionary}` from a recipe's `{language: path or "muse"}` mapping."""
    dictionaries = {}
    for language, path in spec.items():
        if str(path) == "muse":
            path = muse_path(language, data_dir)
        dictionaries[language] = read_dictionary(path, language)
    return dictionaries
