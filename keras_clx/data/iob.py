"""Character spans ↔ word IOB2 tags ↔ sub-word label ids.

Token classification labels words, not sub-words: a text is split into words
(`split_words`), each word gets an IOB2 tag from the spans it overlaps
(`spans_to_word_tags`), and only the first sub-word of each word carries that tag
in the model's input (`align_tags_to_subwords`); the other sub-words, special
tokens and padding get `ignore_index`. Predictions go back the same way
(`subword_predictions_to_words`, then `tags_to_spans`).

Chunking follows seqeval's default (non-strict) mode: an `I-X` that does not
continue an entity of type `X` starts a new one.
"""

import unicodedata

from keras_clx.data.records import Span

IGNORE_INDEX = -100


def _is_word_char(char):
    return unicodedata.category(char)[0] in "LMN"


def split_words(text):
    """Split `text` into words with their character offsets.

    A word is a maximal run of letters, combining marks and digits (Unicode
    categories L*, M*, N*); every other non-space character (punctuation,
    symbols, emoji) is a word of its own; whitespace separates. So `"pizza,"`
    gives `"pizza"` and `","`, and `"don't"` gives `"don"`, `"'"`, `"t"`, as
    BERT's basic tokenizer does.

    Returns:
        A list of `(word, start, end)` with `text[start:end] == word`.
    """
    words = []
    start = None
    for i, char in enumerate(text):
        if start is not None and not _is_word_char(char):
            words.append((text[start:i], start, i))
            start = None
        if char.isspace():
            continue
        if _is_word_char(char):
            if start is None:
                start = i
        else:
            words.append((char, i, i + 1))
    if start is not None:
        words.append((text[start:], start, len(text)))
    return words


def spans_to_word_tags(text, spans, words=None):
    """Words of `text` and their IOB2 tags from character `spans`.

    A word belongs to a span if their characters overlap, so a span that cuts a
    word tags the whole word. Spans are taken in order of start (longer first on
    equal starts); a span that overlaps a word already tagged by an earlier span
    is dropped, so the tags are always well-formed. Adjacent spans give two
    entities (`B-X B-X`).

    Args:
        text: the text.
        spans: `Span`s (character offsets into `text`).
        words: the `(word, start, end)` triples to tag (default `split_words(text)`;
            a pre-tokenised `Example` passes its `word_offsets()`).

    Returns:
        `(words, tags)`: the words and one tag per word.
    """
    words = split_words(text) if words is None else list(words)
    tags = ["O"] * len(words)
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        covered = [i for i, (_, start, end) in enumerate(words) if start < span.end and span.start < end]
        if not covered or any(tags[i] != "O" for i in covered):
            continue
        for i in covered:
            tags[i] = ("I-" if i != covered[0] else "B-") + span.label
    return words, tags


def align_tags_to_subwords(
    word_tags,
    subword_counts,
    label_ids,
    max_length,
    ignore_index=IGNORE_INDEX,
    offset=1,
    trailing=1,
):
    """Per-sub-word label ids for one example; only first sub-words are labelled.

    Args:
        word_tags: one tag per word (e.g. from `spans_to_word_tags`).
        subword_counts: the number of sub-words of each word (a word with 0
            sub-words gets no position and its tag is dropped).
        label_ids: mapping from tag to id (e.g. `IOBLabels.ids`).
        max_length: the packed sequence length.
        ignore_index: the id of positions without a label.
        offset: special tokens before the first word (1 for `[CLS]` / `<s>`).
        trailing: special tokens kept after the last word when the packer
            truncates (1 for `[SEP]` / `</s>`): words whose first sub-word lies
            beyond `max_length - trailing` are cut off.

    Returns:
        A list of `max_length` ints.
    """
    if len(word_tags) != len(subword_counts):
        raise ValueError(f"{len(word_tags)} tags for {len(subword_counts)} words")
    ids = [ignore_index] * max_length
    position = offset
    for tag, count in zip(word_tags, subword_counts):
        if count and position < max_length - trailing:
            ids[position] = label_ids[tag]
        position += count
    return ids


def subword_predictions_to_words(predictions, subword_counts, offset=1, trailing=1, fill=0):
    """Per-word predicted ids: the prediction at each word's first sub-word.

    Args:
        predictions: one predicted id per position of the packed sequence.
        subword_counts, offset, trailing: as in `align_tags_to_subwords`.
        fill: the id given to words that have no position (0 sub-words or cut
            off by truncation); 0 is `"O"` in `IOBLabels`.

    Returns:
        A list with one id per word.
    """
    limit = len(predictions) - trailing
    word_ids = []
    position = offset
    for count in subword_counts:
        word_ids.append(predictions[position] if count and position < limit else fill)
        position += count
    return word_ids


def _parse_tag(tag):
    if tag == "O":
        return "O", None
    prefix, _, label = tag.partition("-")
    if prefix not in ("B", "I") or not label:
        raise ValueError(f"{tag!r} is not an IOB2 tag ('O', 'B-<type>' or 'I-<type>')")
    return prefix, label


def tag_chunks(tags):
    """Entities of one IOB2 tag sequence, as seqeval's default mode finds them.

    An entity starts at `B-X`, or at an `I-X` that follows `O` or a tag of
    another type; it continues over `I-X`.

    Returns:
        A list of `(type, start, end)` word indices, `end` exclusive.
    """
    chunks = []
    current = None  # [type, start]
    for i, tag in enumerate(tags):
        prefix, label = _parse_tag(tag)
        if current is not None and (prefix != "I" or label != current[0]):
            chunks.append((current[0], current[1], i))
            current = None
        if prefix != "O" and current is None:
            current = [label, i]
    if current is not None:
        chunks.append((current[0], current[1], len(tags)))
    return chunks


def tags_to_spans(words, tags):
    """Character `Span`s of the entities in `tags` (see `tag_chunks`).

    Args:
        words: `(word, start, end)` triples, as from `split_words`.
        tags: one IOB2 tag per word.
    """
    if len(words) != len(tags):
        raise ValueError(f"{len(tags)} tags for {len(words)} words")
    return [Span(words[start][1], words[end - 1][2], label) for label, start, end in tag_chunks(tags)]


class _TagSet:
    """Tag names <-> ids (`names[i]` is tag `i`)."""

    def __len__(self):
        return len(self.names)

    def encode(self, tags):
        return [self.ids[tag] for tag in tags]

    def decode(self, ids):
        return [self.names[i] for i in ids]


class IOBLabels(_TagSet):
    """IOB2 tag set of some entity types: `["O", "B-T1", "I-T1", "B-T2", ...]`.

    `names[i]` is the tag of id `i`, `ids[tag]` the id of a tag; `"O"` is id 0.
    """

    def __init__(self, types):
        types = list(types)
        if len(set(types)) != len(types) or not all(types):
            raise ValueError(f"entity types must be distinct and non-empty, got {types}")
        self.types = types
        self.names = ["O"] + [f"{prefix}-{t}" for t in types for prefix in "BI"]
        self.ids = {name: i for i, name in enumerate(self.names)}


class PlainTags(_TagSet):
    """A plain per-word tag set without IOB structure (UD POS): `names[i]` is tag `i`."""

    types = ()

    def __init__(self, names):
        names = list(names)
        if len(set(names)) != len(names) or not all(names):
            raise ValueError(f"tags must be distinct and non-empty, got {names}")
        self.names = names
        self.ids = {name: i for i, name in enumerate(names)}
