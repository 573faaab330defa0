"""CoNLL-style word-per-line files: one `word<TAB>tag` per line, a blank line between sentences.

`read_conll(path, language, scheme=...)` returns one `Example` per sentence with
`words` (the file's tokenisation) and `text` = the words joined by one space:

- `scheme="iob"`: IOB2 entity tags (NER: PAN-X, CoNLL-2002/2003) become character
  `spans` over `text`, chunked as seqeval does (`iob.tag_chunks`), so entity F1 on
  the file's words equals seqeval's on its tags;
- `scheme="tags"`: any per-word tag (UD POS), kept as `tags`.

XTREME's PAN-X prefixes every word with its language (`en:Paris`): the exact
`<language>:` prefix is removed. `-DOCSTART-` lines are skipped. Columns are
whitespace-separated when the line has no tab (CoNLL-2003); `word_column` and
`tag_column` select them (0-based, negative from the end).
"""

import pathlib

from keras_clx.data.iob import tag_chunks
from keras_clx.data.readers import file_id, numbered_lines
from keras_clx.data.records import Example, Span
from keras_clx.errors import DataError

SCHEMES = ("iob", "tags")


def _sentences(path, word_column, tag_column, labeled):
    """Yields `(first line, words, tags, tag lines)` per sentence."""
    words, tags, lines = [], [], []
    for line, row in numbered_lines(path):
        if not row.strip():
            if words:
                yield lines[0], words, tags, lines
            words, tags, lines = [], [], []
            continue
        fields = row.split("\t") if "\t" in row else row.split()
        if fields[0].startswith("-DOCSTART-"):
            continue
        try:
            word = fields[word_column]
            tag = fields[tag_column].strip() if labeled else None
        except IndexError:
            need = max(c + 1 if c >= 0 else -c for c in (word_column, tag_column if labeled else 0))
            raise DataError(f"expected at least {need} columns (word, tag), found {len(fields)}", path, line) from None
        if labeled and len(fields) < 2:
            raise DataError("expected a word and a tag, found one column", path, line)
        if not word.strip() or (labeled and not tag):
            raise DataError("empty word" if not word.strip() else "empty tag", path, line)
        words.append(word.strip())
        tags.append(tag)
        lines.append(line)
    if words:
        yield lines[0], words, tags, lines


def _spans(words, tags, path, lines):
    """Character spans over `" ".join(words)` of the IOB2 entities in `tags`."""
    for tag, line in zip(tags, lines):
        prefix, _, kind = tag.partition("-")
        if tag != "O" and (prefix not in ("B", "I") or not kind):
            raise DataError(
                f"tag {tag!r} is not IOB2 ('O', 'B-<type>', 'I-<type>'); for plain tags use scheme 'tags'", path, line
            )
    starts, position = [], 0
    for word in words:
        starts.append(position)
        position += len(word) + 1
    return tuple(Span(starts[a], starts[b - 1] + len(words[b - 1]), kind) for kind, a, b in tag_chunks(tags))


def read_conll(path, language, scheme="iob", word_column=0, tag_column=-1, labeled=True):
    """Reads a CoNLL-style file (see the module docstring).

    Args:
        path: the file.
        language: language code of every sentence (also the prefix stripped from words).
        scheme: `"iob"` (entity spans) or `"tags"` (one plain tag per word).
        word_column, tag_column: the columns of the word and of its tag.
        labeled: `False` reads words only (a file without tags).

    Returns:
        A list of `Example`, `id` = `"<file>:<first line of the sentence>"`.
    """
    if scheme not in SCHEMES:
        raise DataError(f"unknown tag scheme {scheme!r}; expected one of {list(SCHEMES)}", path)
    path = pathlib.Path(path)
    prefix, strip = file_id(path), f"{language}:"
    examples = []
    for first, words, tags, lines in _sentences(path, word_column, tag_column, labeled):
        words = tuple(w[len(strip) :] if w.startswith(strip) and len(w) > len(strip) else w for w in words)
        example = Example(" ".join(words), language, f"{prefix}:{first}", words=words)
        if labeled and scheme == "iob":
            example = Example(example.text, language, example.id, spans=_spans(words, tags, path, lines), words=words)
        elif labeled:
            example = Example(example.text, language, example.id, tags=tuple(tags), words=words)
        examples.append(example)
    if not examples:
        raise DataError("no sentences: expected word<TAB>tag lines", path)
    return examples
