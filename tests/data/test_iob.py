import random

import pytest

from keras_clx.data.iob import (
    IGNORE_INDEX,
    IOBLabels,
    align_tags_to_subwords,
    spans_to_word_tags,
    split_words,
    subword_predictions_to_words,
    tag_chunks,
    tags_to_spans,
)
from keras_clx.data.records import Span
from tests.helpers import target_span as T

LABELS = IOBLabels(["TARGET"])
X = IGNORE_INDEX


def test_split_words_punctuation_and_offsets():
    text = "The pizza, don't  miss it!\t3.50€ Кухня 😎ok"
    words = split_words(text)
    assert [w for w, _, _ in words] == [
        "The",
        "pizza",
        ",",
        "don",
        "'",
        "t",
        "miss",
        "it",
        "!",
        "3",
        ".",
        "50",
        "€",
        "Кухня",
        "😎",
        "ok",
    ]
    assert all(text[start:end] == w for w, start, end in words)
    assert split_words("") == [] and split_words("  \n") == []


def test_split_words_keeps_combining_marks():
    text = "cafe\u0301 ok"  # "café" with a combining accent
    assert [w for w, _, _ in split_words(text)] == ["cafe\u0301", "ok"]


def test_spans_to_word_tags():
    text = "The goat cheese pizza, and wine."
    words, tags = spans_to_word_tags(text, [T(4, 21), T(27, 31)])
    assert [w for w, _, _ in words] == ["The", "goat", "cheese", "pizza", ",", "and", "wine", "."]
    assert tags == ["O", "B-TARGET", "I-TARGET", "I-TARGET", "O", "O", "B-TARGET", "O"]


def test_span_cutting_a_word_tags_the_whole_word():
    # Spanish train: "egundos platos" (the offsets miss the first letter)
    _, tags = spans_to_word_tags("Los segundos platos.", [T(5, 19)])
    assert tags == ["O", "B-TARGET", "I-TARGET", "O"]


def test_adjacent_targets_give_two_entities():
    text = "pizza pasta"
    words, tags = spans_to_word_tags(text, [T(6, 11), T(0, 5)])
    assert tags == ["B-TARGET", "B-TARGET"]
    assert tags_to_spans(words, tags) == [T(0, 5), T(6, 11)]


def test_overlapping_targets_keep_first_then_longer():
    text = "выбор блюд хороший"
    # same start: the longer one wins; a later overlapping span is dropped
    _, tags = spans_to_word_tags(text, [T(0, 5), T(0, 10), T(6, 18)])
    assert tags == ["B-TARGET", "I-TARGET", "O"]
    # two character-disjoint spans inside one word: the second is dropped
    _, tags = spans_to_word_tags("Кухня", [T(0, 4), T(4, 5)])
    assert tags == ["B-TARGET"]


def test_span_on_whitespace_only_tags_nothing():
    _, tags = spans_to_word_tags("a   b", [T(1, 4)])
    assert tags == ["O", "O"]


def test_several_types():
    words, tags = spans_to_word_tags("red wine list", [Span(0, 8, "DRINK"), Span(9, 13, "MENU")])
    assert tags == ["B-DRINK", "I-DRINK", "B-MENU"]
    assert tags_to_spans(words, tags) == [Span(0, 8, "DRINK"), Span(9, 13, "MENU")]


def test_tags_to_spans_i_without_b_starts_an_entity():
    words = split_words("a b c d e")
    tags = ["I-TARGET", "I-TARGET", "O", "I-TARGET", "B-TARGET"]
    assert tags_to_spans(words, tags) == [T(0, 3), T(6, 7), T(8, 9)]
    assert tags_to_spans(words, ["B-A", "I-B", "I-B", "B-A", "I-A"]) == [
        Span(0, 1, "A"),
        Span(2, 5, "B"),
        Span(6, 9, "A"),
    ]
    with pytest.raises(ValueError, match="tags for"):
        tags_to_spans(words, ["O"])


def test_tag_chunks_rejects_other_schemes():
    with pytest.raises(ValueError, match="not an IOB2 tag"):
        tag_chunks(["O", "E-TARGET"])
    with pytest.raises(ValueError, match="not an IOB2 tag"):
        tag_chunks(["B"])


def test_iob_labels():
    assert LABELS.names == ["O", "B-TARGET", "I-TARGET"]
    assert LABELS.ids == {"O": 0, "B-TARGET": 1, "I-TARGET": 2}
    assert len(LABELS) == 3
    two = IOBLabels(["A", "B"])
    assert two.names == ["O", "B-A", "I-A", "B-B", "I-B"]
    assert two.decode(two.encode(["B-B", "I-B", "O"])) == ["B-B", "I-B", "O"]
    with pytest.raises(ValueError, match="distinct"):
        IOBLabels(["A", "A"])


def test_align_multi_subword_words():
    tags = ["O", "B-TARGET", "I-TARGET", "O"]
    counts = [1, 3, 2, 1]
    ids = align_tags_to_subwords(tags, counts, LABELS.ids, max_length=10)
    #        [CLS] The  goat(3)    cheese(2) .  [SEP] pad...
    assert ids == [X, 0, 1, X, X, 2, X, 0, X, X]
    assert subword_predictions_to_words(ids, counts) == [0, 1, 2, 0]


def test_align_zero_subword_word_and_offset():
    ids = align_tags_to_subwords(["B-TARGET", "I-TARGET", "O"], [1, 0, 1], LABELS.ids, 6, offset=2, ignore_index=-1)
    assert ids == [-1, -1, 1, 0, -1, -1]
    assert subword_predictions_to_words([9, 9, 1, 0, 9, 9], [1, 0, 1], offset=2) == [1, 0, 0]


def test_align_truncation():
    tags = ["B-TARGET", "I-TARGET", "O", "B-TARGET"]
    counts = [2, 2, 1, 3]
    # max_length 6: [CLS] + 4 content positions + [SEP]
    ids = align_tags_to_subwords(tags, counts, LABELS.ids, max_length=6)
    assert ids == [X, 1, X, 2, X, X]
    # the packer put [SEP] at position 5; word 2 starts there and is cut off
    predictions = [0, 1, 0, 2, 0, 1]
    assert subword_predictions_to_words(predictions, counts, fill=7) == [1, 2, 7, 7]
    assert align_tags_to_subwords(tags, counts, LABELS.ids, max_length=2) == [X, X]
    with pytest.raises(ValueError, match="tags for"):
        align_tags_to_subwords(tags, counts[:2], LABELS.ids, 6)


def test_round_trip_characters_to_subwords_and_back():
    rng = random.Random(0)
    vocabulary = ["pizza", "goat", "cheese", "Кухня", "très", "bon", ",", ".", "!", "çay", "don't"]
    for _ in range(200):
        pieces = [rng.choice(vocabulary) for _ in range(rng.randint(1, 12))]
        text = " ".join(pieces)
        words = split_words(text)
        # random word-aligned, non-overlapping spans
        spans, i = [], 0
        while i < len(words):
            if rng.random() < 0.3:
                j = min(len(words), i + rng.randint(1, 3))
                spans.append(T(words[i][1], words[j - 1][2]))
                i = j
            else:
                i += 1
        words, tags = spans_to_word_tags(text, spans)
        assert tags_to_spans(words, tags) == spans
        counts = [rng.randint(1, 4) for _ in words]
        max_length = sum(counts) + 2 + rng.randint(0, 3)  # [CLS], [SEP], padding
        ids = align_tags_to_subwords(tags, counts, LABELS.ids, max_length)
        assert sum(i != X for i in ids) == len(words)
        # a model that is right on first sub-words and anything elsewhere
        predictions = [rng.randrange(3) if i == X else i for i in ids]
        word_ids = subword_predictions_to_words(predictions, counts)
        assert tags_to_spans(words, LABELS.decode(word_ids)) == spans


def test_round_trip_under_truncation_keeps_whole_leading_entities():
    text = "goat cheese pizza and red wine"
    words, tags = spans_to_word_tags(text, [T(0, 17), T(22, 30)])
    counts = [2] * len(words)
    # 1 + 2*3 + 1 = 8 positions hold the first three words exactly
    ids = align_tags_to_subwords(tags, counts, LABELS.ids, max_length=8)
    word_ids = subword_predictions_to_words([0 if i == X else i for i in ids], counts)
    assert tags_to_spans(words, LABELS.decode(word_ids)) == [T(0, 17)]
