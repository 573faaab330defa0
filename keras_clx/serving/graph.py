"""The serving contract and the in-graph serving function (TensorFlow backend).

`write_saved_model(run, path)` writes a SavedModel with two signatures:

- `serving_default`: input `text`, `tf.string` `[None]`; tokenisation runs in the
  graph (the run's keras-hub tokenizer, tf-text ops, packed as its preprocessor
  packs one segment), then the model. Outputs: `SEQUENCE_OUTPUTS` or
  `TOKEN_OUTPUTS`; token tasks split words as `iob.split_words` and tag each word
  at its first sub-word, as `data/token_pipeline.py` does in training.
- `model`: the classifier alone, int32 `[None, sequence_length]` inputs
  (`token_ids`, `padding_mask`, and `segment_ids` for BERT) -> logits.

Inputs are sanitised in the graph: invalid UTF-8 bytes become U+FFFD (as
`bytes.decode("utf-8", errors="replace")`, see `to_text`); texts longer than the
sequence length are truncated; an empty text is the empty token sequence
(sequence tasks) or has no words (token tasks). TensorFlow is imported inside
functions: the constants are free to import.
"""

import pathlib

from keras_clx.errors import ClxError

INPUT_NAME = "text"
PAIR_INPUT_NAME = "text_pair"  # the second input of a sentence-pair model
MODEL_ENDPOINT = "model"
METADATA_FILE = pathlib.Path("assets.extra") / "keras_clx.json"

# Output name -> (dtype, shape); C classes, T tags, W words, S spans per text.
SEQUENCE_OUTPUTS = {
    "probabilities": ("float32", [None, "C"]),
    "label_id": ("int32", [None]),
    "label": ("string", [None]),
}
TOKEN_OUTPUTS = {
    "words": ("string", [None, "W"]),
    "word_start": ("int32", [None, "W"]),
    "word_end": ("int32", [None, "W"]),
    "tag_id": ("int32", [None, "W"]),
    "tag": ("string", [None, "W"]),
    "tag_probabilities": ("float32", [None, "W", "T"]),
    "num_words": ("int32", [None]),
    "span_start": ("int32", [None, "S"]),
    "span_end": ("int32", [None, "S"]),
    "span_label": ("string", [None, "S"]),
    "span_text": ("string", [None, "S"]),
    "num_spans": ("int32", [None]),
}
OUTPUTS = {"sequence": SEQUENCE_OUTPUTS, "pair": SEQUENCE_OUTPUTS, "token": TOKEN_OUTPUTS, "tagging": TOKEN_OUTPUTS}


def serving_inputs(task):
    """The string inputs of `serving_default`: `text`, and `text_pair` for pair models."""
    return [INPUT_NAME, PAIR_INPUT_NAME] if task == "pair" else [INPUT_NAME]


# `iob.split_words` in RE2: a word is a run of letters, marks and digits; any
# other non-space character is a word of its own; `str.isspace()` characters
# separate (they are exactly \t \n \v \f \r, U+001C..U+001F, U+0085 and \p{Z}).
_SPACE = r"\t\n\x{0B}\f\r\x{1C}-\x{1F}\x{85}\p{Z}"
_WORD_DELIMITER = rf"[{_SPACE}]|[^\pL\pM\pN{_SPACE}]"
_KEPT_DELIMITER = rf"[^\pL\pM\pN{_SPACE}]"


def to_text(value):
    """A text as the graph reads it: bytes decoded as UTF-8, invalid bytes -> U+FFFD."""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def to_bytes(text):
    """A text as `serving_default` takes it (UTF-8 bytes)."""
    return text if isinstance(text, bytes) else text.encode("utf-8")


# === In-graph serving function ===


def _sanitize(text):
    import tensorflow as tf

    return tf.strings.unicode_transcode(
        text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD, replace_control_characters=False
    )


def _pack(pieces, tokenizer, length):
    """`[start] + the first length - 2 pieces + [end]`, padded to `length`: what
    keras-hub's `MultiSegmentPacker` does with one segment, in core TF ops (TF
    Serving links older TF Text releases, which lack its `TFText>RoundRobinTrim`)."""
    import tensorflow as tf

    batch = tf.cast(pieces.nrows(), tf.int32)
    ids = tf.cast(pieces[:, : length - 2], tf.int32)
    start = tf.fill(tf.stack([batch, 1]), tf.constant(tokenizer.start_token_id, tf.int32))
    end = tf.fill(tf.stack([batch, 1]), tf.constant(tokenizer.end_token_id, tf.int32))
    packed = tf.concat([start, ids, end], axis=1)
    token_ids = packed.to_tensor(default_value=tokenizer.pad_token_id, shape=[None, length])
    return {
        "token_ids": token_ids,
        "padding_mask": tf.ones_like(packed).to_tensor(default_value=0, shape=[None, length]),
        "segment_ids": tf.zeros_like(token_ids),
    }


def _pack_pair(first, second, tokenizer, length, separators):
    """`[start] a [end]*separators b [end]`, padded to `length`, with segment ids 0 / 1: what
    `MultiSegmentPacker` does with two segments and 'round_robin' truncation (pieces are
    taken one from each side in turn, so the longer side is cut first)."""
    import tensorflow as tf

    budget = length - 2 - separators
    la, lb = (tf.cast(p.row_lengths(), tf.int32) for p in (first, second))
    keep_a = tf.minimum(la, tf.maximum((budget + 1) // 2, budget - lb))
    keep_b = tf.minimum(lb, budget - keep_a)
    a = tf.ragged.boolean_mask(first, tf.ragged.range(la) < keep_a[:, None])
    b = tf.ragged.boolean_mask(second, tf.ragged.range(lb) < keep_b[:, None])
    batch = tf.cast(first.nrows(), tf.int32)

    def fill(value, count):
        return tf.fill(tf.stack([batch, count]), tf.constant(value, tf.int32))

    start, end = fill(tokenizer.start_token_id, 1), fill(tokenizer.end_token_id, 1)
    packed = tf.concat(
        [start, tf.cast(a, tf.int32), fill(tokenizer.end_token_id, separators), tf.cast(b, tf.int32), end], axis=1
    )
    segments = tf.concat(
        [
            tf.zeros_like(start),
            tf.zeros_like(tf.cast(a, tf.int32)),
            fill(0, separators),
            tf.ones_like(tf.cast(b, tf.int32)),
            tf.ones_like(end),
        ],
        axis=1,
    )
    return {
        "token_ids": packed.to_tensor(default_value=tokenizer.pad_token_id, shape=[None, length]),
        "padding_mask": tf.ones_like(packed).to_tensor(default_value=0, shape=[None, length]),
        "segment_ids": segments.to_tensor(default_value=0, shape=[None, length]),
    }


def _sequence_outputs(
    text, tokenizer, sequence_length, classify, input_names, label_names, text_pair=None, separators=1
):
    import tensorflow as tf

    if text_pair is None:
        x = _pack(tokenizer(_sanitize(text)), tokenizer, sequence_length)
    else:
        x = _pack_pair(
            tokenizer(_sanitize(text)), tokenizer(_sanitize(text_pair)), tokenizer, sequence_length, separators
        )
    logits = classify({name: x[name] for name in input_names})
    probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
    label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
    return {
        "probabilities": probabilities,
        "label_id": label_id,
        "label": tf.gather(tf.constant(label_names), label_id),
    }


def tag_entities(tag_id, first):
    """Chunks IOB2 tag ids as `iob.tag_chunks` (seqeval's default mode), in the graph.

    Args:
        tag_id: int32 `[n]`, the words of a batch one text after another;
            `O` = 0, `B-k` = 1 + 2k, `I-k` = 2 + 2k (`iob.IOBLabels`).
        first: bool `[n]`, true at the first word of each text.

    Returns:
        `(begins, entity)`: bool `[n]`, true where an entity starts (at `B-k`,
        or at `I-k` after `O` or another type), and int32 `[n]`, the index of
        each word's entity in the batch (-1 for `O`).
    """
    import tensorflow as tf

    previous = tf.pad(tag_id, [[1, 0]])[:-1]
    previous = tf.where(first, tf.zeros_like(previous), previous)
    kind = (tag_id - 1) // 2
    inside = tag_id > 0
    begins = inside & (((tag_id - 1) % 2 == 0) | (previous == 0) | ((previous - 1) // 2 != kind))
    entity = tf.cumsum(tf.cast(begins, tf.int32)) - 1
    return begins, tf.where(inside, entity, -tf.ones_like(entity))


def _token_outputs(text, tokenizer, sequence_length, classify, input_names, tag_names, span_types):
    """Splits words as `iob.split_words`, tokenises word by word and packs as
    `data/token_pipeline.py`, tags each word at its first sub-word and chunks
    the tags into spans as `iob.tag_chunks` (seqeval's default mode)."""
    import tensorflow as tf
    import tensorflow_text as tf_text

    text = _sanitize(text)
    batch = tf.shape(text, out_type=tf.int64)[0]
    length = sequence_length
    words, byte_start, byte_end = tf_text.regex_split_with_offsets(text, _WORD_DELIMITER, _KEPT_DELIMITER)
    rows = words.value_rowids()
    flat_words = words.flat_values
    n = tf.shape(flat_words, out_type=tf.int64)[0]
    byte_start, byte_end = byte_start.flat_values, byte_end.flat_values
    # Character (code point) offsets, as Python's `str` indices.
    before = tf.strings.substr(tf.gather(text, rows), tf.zeros_like(byte_start), byte_start)
    word_start = tf.strings.length(before, unit="UTF8_CHAR")
    word_end = word_start + tf.strings.length(flat_words, unit="UTF8_CHAR")

    # === Sub-words, packed as one segment ===
    pieces = tokenizer(flat_words)  # [n, (pieces)]
    counts = tf.cast(pieces.row_lengths(), tf.int32)
    x = _pack(tf.RaggedTensor.from_row_splits(pieces, words.row_splits).merge_dims(1, 2), tokenizer, length)
    logits = classify({name: x[name] for name in input_names})
    probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)  # [batch, length, T]

    # === One prediction per word, at its first sub-word ===
    cumulative = tf.concat([[0], tf.cumsum(counts)], axis=0)
    first_in_row = tf.gather(words.row_starts(), rows)
    position = 1 + tf.gather(cumulative, tf.range(n)) - tf.gather(cumulative, first_in_row)
    tagged = (counts > 0) & (position < length - 1)
    at_word = tf.gather_nd(probabilities, tf.stack([rows, tf.cast(tf.minimum(position, length - 1), tf.int64)], 1))
    outside = tf.one_hot(0, len(tag_names), dtype=tf.float32)
    word_probabilities = tf.where(tagged[:, None], at_word, outside[None, :])
    tag_id = tf.argmax(word_probabilities, axis=-1, output_type=tf.int32)

    # === Spans (none for plain tags: no span types) ===
    chunked = tag_id if len(span_types) else tf.zeros_like(tag_id)
    begins, entity = tag_entities(chunked, tf.range(n) == first_in_row)
    inside = entity >= 0
    kind = (chunked - 1) // 2
    entity = tf.boolean_mask(entity, inside)
    num_entities = tf.reduce_sum(tf.cast(begins, tf.int32))

    def per_entity(reduce, values):
        return reduce(tf.boolean_mask(values, inside), entity, num_entities)

    span_rows = tf.boolean_mask(rows, begins)
    span_byte_start = per_entity(tf.math.unsorted_segment_min, byte_start)
    span_byte_end = per_entity(tf.math.unsorted_segment_max, byte_end)

    def by_word(values, default):
        return tf.RaggedTensor.from_row_splits(values, words.row_splits).to_tensor(default_value=default)

    def by_span(values, default):
        return tf.RaggedTensor.from_value_rowids(values, span_rows, nrows=batch).to_tensor(default_value=default)

    return {
        "words": by_word(flat_words, ""),
        "word_start": by_word(word_start, -1),
        "word_end": by_word(word_end, -1),
        "tag_id": by_word(tag_id, -1),
        "tag": by_word(tf.gather(tf.constant(tag_names), tag_id), ""),
        "tag_probabilities": by_word(word_probabilities, 0.0),
        "num_words": tf.cast(words.row_lengths(), tf.int32),
        "span_start": by_span(per_entity(tf.math.unsorted_segment_min, word_start), -1),
        "span_end": by_span(per_entity(tf.math.unsorted_segment_max, word_end), -1),
        "span_label": by_span(
            tf.gather(tf.constant(list(span_types) or [""], tf.string), tf.boolean_mask(kind, begins)), ""
        ),
        "span_text": by_span(
            tf.strings.substr(tf.gather(text, span_rows), span_byte_start, span_byte_end - span_byte_start), ""
        ),
        "num_spans": tf.math.unsorted_segment_sum(tf.ones_like(span_rows, tf.int32), span_rows, batch),
    }


def write_saved_model(run, path):
    """Writes the SavedModel of a loaded `Run` to `path` (TensorFlow backend only)."""
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("write_saved_model needs the TensorFlow backend")
    model, task = run.model, run.recipe.data.task
    preprocessor = model.preprocessor
    if preprocessor is None:
        raise ClxError(f"{run.directory}: the model has no preprocessor to tokenise raw strings")
    if not preprocessor.built:
        preprocessor.build(None)
    length = preprocessor.sequence_length
    input_names = sorted(model.input)
    archive = keras.export.ExportArchive()
    archive.track(preprocessor)
    classify = archive.track_and_add_endpoint(
        MODEL_ENDPOINT,
        model,
        input_signature=[{name: tf.TensorSpec([None, length], tf.int32, name=name) for name in input_names}],
    )
    if task == "sequence":

        def outputs(text):
            return _sequence_outputs(text, preprocessor.tokenizer, length, classify, input_names, run.labels.names)
    elif task == "pair":
        separators = 2 if "segment_ids" not in input_names else 1  # XLM-R: </s></s>

        def outputs(text, text_pair):
            return _sequence_outputs(
                text,
                preprocessor.tokenizer,
                length,
                classify,
                input_names,
                run.labels.names,
                text_pair=text_pair,
                separators=separators,
            )
    elif task in ("token", "tagging"):
        tags = run.task.tags(run.labels)

        def outputs(text):
            return _token_outputs(text, preprocessor.tokenizer, length, classify, input_names, tags.names, tags.types)
    else:
        raise ClxError(f"cannot export task {task!r}; tasks: {sorted(OUTPUTS)}")

    serve = tf.function(
        outputs, input_signature=[tf.TensorSpec([None], tf.string, name=n) for n in serving_inputs(task)]
    )
    archive.add_endpoint("serving_default", serve)
    archive.write_out(str(path), verbose=False)
