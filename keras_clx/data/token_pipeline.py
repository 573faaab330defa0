"""Word-aligned tf.data pipeline for token classification.

Each text is split into words (`iob.split_words`) and every word is tokenised on
its own with the backbone's tokenizer, so that sub-words never straddle two words:

    "goat cheese pizza,"  ->  words  goat | cheese | pizza | ,
                              pieces [goat] [che ##ese] [pizza] [,]
    token_ids   [CLS] goat che ##ese pizza , [SEP] [PAD] ...
    y           -100  B-T  I-T -100  I-T   O -100  -100  ...

The ids are packed as the sequence preprocessor packs one segment (start token,
at most `sequence_length - 2` pieces, end token, padding), and `x` has the same
keys and dtypes as its output: `token_ids`, `padding_mask` and, for BERT,
`segment_ids`. Only the first sub-word of a word carries its tag; the rest is
`IGNORE_INDEX` (-100). Words cut off by truncation get no position (at
prediction time they are tagged `O`).

Tokenising word by word is what Hugging Face calls `is_split_into_words`: for
BERT's WordPiece the pieces equal those of the whole sentence; for XLM-R's
SentencePiece every word gets its own `▁` prefix, also punctuation that follows
a word without a space (`"pizza,"` gives `▁pizza ▁,` instead of `▁pizza ,`).
Training and prediction both go through this pipeline, so they agree.
"""

import dataclasses

import numpy as np

from keras_clx.data.iob import (
    IGNORE_INDEX,
    align_tags_to_subwords,
    spans_to_word_tags,
    split_words,
)
from keras_clx.errors import DataError

_CHUNK = 4096  # words per tokenizer call


@dataclasses.dataclass
class WordEncoding:
    """Word-aligned model inputs of some texts.

    Attributes:
        words: per text, its `(word, start, end)` triples.
        subword_counts: per text, the number of sub-words of each word.
        x: the model inputs, NumPy arrays of shape `(texts, sequence_length)`.
        truncated: how many texts lost words to the sequence length.
    """

    words: list
    subword_counts: list
    x: dict
    truncated: int

    def __len__(self):
        return len(self.words)


def _tokenize_words(tokenizer, words):
    pieces = []
    for begin in range(0, len(words), _CHUNK):
        out = tokenizer(words[begin : begin + _CHUNK])
        if hasattr(out, "to_list"):  # tf.RaggedTensor on the TensorFlow backend
            out = out.to_list()
        pieces.extend([int(i) for i in ids] for ids in out)
    return pieces


def _input_names(preprocessor):
    """Keys of the sequence preprocessor's output (BERT adds `segment_ids`)."""
    return sorted(preprocessor(["a"]).keys())


def encode_texts(texts, preprocessor, words=None):
    """Tokenises `texts` word by word and packs them as `preprocessor` would.

    Args:
        texts: strings.
        preprocessor: a keras-hub `TextClassifierPreprocessor` (its tokenizer,
            special tokens and `sequence_length` are used).
        words: optional, per text its `(word, start, end)` triples (default
            `split_words(text)`).

    Returns:
        A `WordEncoding`.
    """
    tokenizer = preprocessor.tokenizer
    length = preprocessor.sequence_length
    words = [split_words(t) for t in texts] if words is None else words
    flat = [w for text_words in words for w, _, _ in text_words]
    pieces = _tokenize_words(tokenizer, flat) if flat else []

    token_ids = np.full((len(texts), length), tokenizer.pad_token_id, dtype="int32")
    padding_mask = np.zeros((len(texts), length), dtype="bool")
    counts, truncated, k = [], 0, 0
    for i, text_words in enumerate(words):
        text_pieces = pieces[k : k + len(text_words)]
        k += len(text_words)
        counts.append([len(p) for p in text_pieces])
        ids = [t for p in text_pieces for t in p]
        if len(ids) > length - 2:
            truncated += 1
            ids = ids[: length - 2]
        row = [tokenizer.start_token_id, *ids, tokenizer.end_token_id]
        token_ids[i, : len(row)] = row
        padding_mask[i, : len(row)] = True
    x = {"token_ids": token_ids, "padding_mask": padding_mask}
    names = _input_names(preprocessor)
    if "segment_ids" in names:
        x["segment_ids"] = np.zeros_like(token_ids)
    missing = set(names) - set(x)
    if missing:
        raise ValueError(f"the preprocessor produces inputs {sorted(missing)} this pipeline cannot build")
    return WordEncoding(words, counts, x, truncated)


def example_words(example):
    """The `(word, start, end)` triples of an example: its given `words`, else `split_words`."""
    return example.word_offsets() or split_words(example.text)


def gold_word_tags(example, where="token data"):
    """`(words, tags)` of a labelled example: its plain `tags`, or IOB2 tags from its spans."""
    words = example_words(example)
    if example.tags is not None:
        if len(example.tags) != len(words):
            raise DataError(f"example {example.id!r} has {len(example.tags)} tags for {len(words)} words", path=where)
        return words, list(example.tags)
    if example.spans is None:
        raise DataError(f"example {example.id!r} ({example.language}) has no span or tag annotation", path=where)
    return spans_to_word_tags(example.text, example.spans, words=words)


def encode_examples(examples, iob_labels, preprocessor):
    """Word-aligned inputs and per-sub-word tag ids of labelled `examples`.

    `iob_labels` is an `IOBLabels` (span-labelled examples) or a `PlainTags`
    (examples with one plain tag per word).

    Returns:
        `(encoding, y)`: a `WordEncoding` and an int32 array
        `(examples, sequence_length)` with `IGNORE_INDEX` where no tag applies.
    """
    words, tags = [], []
    for e in examples:
        for span in e.spans or ():
            if f"B-{span.label}" not in iob_labels.ids:
                raise DataError(
                    f"span type {span.label!r} of example {e.id!r} ({e.language}) is not in the "
                    f"source span types {iob_labels.types}",
                    path="token data",
                )
        text_words, text_tags = gold_word_tags(e)
        for tag in text_tags:
            if tag not in iob_labels.ids:
                raise DataError(
                    f"tag {tag!r} of example {e.id!r} ({e.language}) is not in the source tag set "
                    f"{list(iob_labels.names)}",
                    path="token data",
                )
        words.append(text_words)
        tags.append(text_tags)
    return encode_word_tags([e.text for e in examples], words, tags, iob_labels, preprocessor)


def encode_word_tags(texts, words, tags, iob_labels, preprocessor):
    """`(encoding, y)` of texts already split into words with one IOB tag per word
    (the hook code-switching re-encodes its switched words through)."""
    encoding = encode_texts(texts, preprocessor, words=words)
    length = preprocessor.sequence_length
    y = np.array(
        [
            align_tags_to_subwords(t, c, iob_labels.ids, length, ignore_index=IGNORE_INDEX)
            for t, c in zip(tags, encoding.subword_counts)
        ],
        dtype="int32",
    ).reshape(len(texts), length)
    return encoding, y


def token_dataset(examples, iob_labels, preprocessor, batch_size, shuffle=False, seed=0):
    """Batches of `(x, y)`, `y` of shape `(batch, sequence_length)`.

    Shuffling reshuffles every epoch from `seed`, so a run is reproducible.
    """
    import tensorflow as tf

    encoding, y = encode_examples(examples, iob_labels, preprocessor)
    ds = tf.data.Dataset.from_tensor_slices((encoding.x, y))
    if shuffle:
        ds = ds.shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def token_text_dataset(texts, preprocessor, batch_size, encoding=None):
    """Batches of `x` only (prediction, unlabelled target text)."""
    import tensorflow as tf

    encoding = encoding or encode_texts(texts, preprocessor)
    return tf.data.Dataset.from_tensor_slices(encoding.x).batch(batch_size).prefetch(tf.data.AUTOTUNE)
