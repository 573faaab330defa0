import xml.etree.ElementTree as ET

import pytest

from keras_clx.data.iob import spans_to_word_tags, tag_chunks
from keras_clx.data.records import Span
from keras_clx.data.semeval import POLARITIES, language_from_filename, read_semeval
from keras_clx.errors import DataError

HEADER = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Reviews>\n<Review rid="1">\n<sentences>\n'
FOOTER = "</sentences>\n</Review>\n</Reviews>\n"


def sentence(sid, text, *opinions, out_of_scope=False):
    attrs = f' id="{sid}"' + (' OutOfScope="TRUE"' if out_of_scope else "")
    body = "".join(
        f'<Opinion target="{target}" category="FOOD#QUALITY" polarity="{polarity}" from="{start}" to="{end}"/>'
        for target, start, end, polarity in opinions
    )
    return f"<sentence{attrs}><text>{text}</text><Opinions>{body}</Opinions></sentence>\n"


def write(tmp_path, *sentences, name="restaurants_train_english.xml"):
    path = tmp_path / name
    path.write_text(HEADER + "".join(sentences) + FOOTER, encoding="utf-8")
    return path


def by_id(examples):
    return {e.id: e for e in examples}


def test_targets_null_duplicates_and_polarity_free_spans(tmp_path):
    path = write(
        tmp_path,
        sentence("1:0", "The pizza was great.", ("pizza", 4, 9, "positive"), ("pizza", 4, 9, "negative")),
        sentence("1:1", "Nice place.", ("NULL", 0, 0, "positive")),
        sentence("1:2", "Lezzetliydi.", ("", 0, 0, "positive"), ("null", 0, 0, "positive")),
        sentence("1:3", "Nothing to say."),
    )
    examples, stats = read_semeval(path)
    assert [e.id for e in examples] == ["1:0", "1:1", "1:2", "1:3"]
    assert {e.language for e in examples} == {"en"}
    ex = by_id(examples)
    assert ex["1:0"].spans == (Span(4, 9, "TARGET"),)
    assert ex["1:0"].label is None
    assert ex["1:1"].spans == () and ex["1:2"].spans == () and ex["1:3"].spans == ()
    assert ex["1:3"].is_labeled
    assert (stats.sentences, stats.examples, stats.opinions, stats.null_targets) == (4, 4, 5, 3)
    assert (stats.targets, stats.duplicates_removed, stats.spans) == (2, 1, 1)


def test_overlapping_targets_keep_longer_then_first(tmp_path):
    path = write(
        tmp_path,
        # nested: the longer one wins
        sentence(
            "1:0",
            "Los segundos platos, muy ricos.",
            ("egundos platos", 5, 19, "positive"),
            ("segundos platos", 4, 19, "positive"),
        ),
        # same length: the earlier one wins; an adjacent target stays
        sentence(
            "1:1",
            "abcdef ghi jkl",
            ("abcd", 0, 4, "positive"),
            ("cdef", 2, 6, "positive"),
            ("ghi", 7, 10, "positive"),
            ("jkl", 11, 14, "positive"),
        ),
    )
    examples, stats = read_semeval(path)
    ex = by_id(examples)
    assert ex["1:0"].spans == (Span(4, 19, "TARGET"),)
    assert ex["1:1"].spans == (Span(0, 4, "TARGET"), Span(7, 10, "TARGET"), Span(11, 14, "TARGET"))
    assert stats.overlaps_removed == 2
    assert stats.targets - stats.duplicates_removed - stats.overlaps_removed == stats.spans == 4


def test_empty_text_skipped_and_out_of_scope_kept(tmp_path):
    path = write(
        tmp_path,
        sentence("1:0", "", ("pizza", 4, 9, "positive")),
        '<sentence id="1:1"><text/></sentence>\n',
        sentence("1:2", "Off topic.", out_of_scope=True),
        sentence("1:3", "Good food.", ("food", 5, 9, "positive")),
    )
    examples, stats = read_semeval(path)
    assert [e.id for e in examples] == ["1:2", "1:3"]
    assert (stats.sentences, stats.skipped_empty, stats.out_of_scope) == (4, 2, 1)
    assert stats.opinions == 1  # opinions of skipped sentences are not counted


def test_utf16_offsets_after_emoji_are_converted(tmp_path):
    # As in the Turkish train file: the emoji is one code point but two UTF-16 units.
    path = write(
        tmp_path,
        sentence("1149:1", "&#x1f60e; Etleri muhteşem lezzetliydi.", ("Etleri", 3, 9, "positive")),
        sentence("1004:1", "şok&#x1f629; güzel çay", ("çay", 12, 15, "negative")),
        name="restaurants_train_turkish.xml",
    )
    examples, stats = read_semeval(path)
    ex = by_id(examples)
    assert ex["1149:1"].text[0] == "\U0001f60e"
    assert ex["1149:1"].spans == (Span(2, 8, "TARGET"),)
    assert ex["1149:1"].text[2:8] == "Etleri"
    (span,) = ex["1004:1"].spans
    assert ex["1004:1"].text[span.start : span.end] == "çay"
    assert stats.offset_fixes == 2
    assert examples[0].language == "tr"


def test_offsets_trusted_over_target_strings(tmp_path):
    path = write(
        tmp_path,
        # Dutch: lower-cased target attribute, correct offsets
        sentence("1:0", "De Pizza was lekker.", ("pizza", 3, 8, "positive")),
        # Turkish test 5016:4: the target lacks the commas of its span
        sentence(
            "1:1",
            "ahtapot, karides, kalamar, somon füme",
            ("ahtapot karides kalamar somon", 0, 32, "positive"),
        ),
        name="restaurants_test_dutch.xml",
    )
    examples, stats = read_semeval(path)
    ex = by_id(examples)
    assert ex["1:0"].spans == (Span(3, 8, "TARGET"),)
    assert ex["1:1"].spans == (Span(0, 32, "TARGET"),)
    assert stats.offset_fixes == 0
    assert examples[0].language == "nl"


def test_sentence_polarity_rule(tmp_path):
    path = write(
        tmp_path,
        sentence(
            "1:0",
            "a b c",
            ("a", 0, 1, "positive"),
            ("b", 2, 3, "positive"),
            ("NULL", 0, 0, "negative"),
        ),
        sentence("1:1", "a b", ("a", 0, 1, "positive"), ("b", 2, 3, "negative")),  # tie
        sentence("1:2", "a", ("a", 0, 1, "conflict")),
        sentence("1:3", "a", ("NULL", 0, 0, "neutral")),
        sentence("1:4", "nothing"),
        sentence("1:5", ""),
    )
    examples, stats = read_semeval(path, task="sentence_polarity")
    assert [(e.id, e.label, e.spans) for e in examples] == [
        ("1:0", "positive", None),
        ("1:3", "neutral", None),
    ]
    assert (
        stats.skipped_mixed,
        stats.skipped_no_opinions,
        stats.skipped_empty,
        stats.examples,
    ) == (2, 1, 1, 2)


def test_language_from_filename_and_override(tmp_path):
    assert language_from_filename("x/restaurants_test_russian.xml") == "ru"
    assert language_from_filename("ABSA16_spanish.XML") == "es"
    path = write(tmp_path, sentence("1:0", "a"), name="ABSA16_Restaurants_Train_SB1_v2.xml")
    with pytest.raises(DataError, match="pass language="):
        read_semeval(path)
    examples, _ = read_semeval(path, language="fr")
    assert examples[0].language == "fr"
    with pytest.raises(ValueError, match="task"):
        read_semeval(path, language="fr", task="aspect")


def test_duplicate_sentence_ids_counted(tmp_path):
    path = write(tmp_path, sentence("6", "a"), sentence("6", "b"))
    examples, stats = read_semeval(path)
    assert [e.id for e in examples] == ["6", "6"]
    assert stats.duplicate_ids == 1


def test_malformed_xml_names_file_and_line(tmp_path):
    path = tmp_path / "restaurants_train_english.xml"
    path.write_text(HEADER + '<sentence id="1:0">\n<text>a & b</text>\n</sentence>\n' + FOOTER)
    with pytest.raises(DataError) as info:
        read_semeval(path)
    assert info.value.path == path
    assert info.value.line == 6
    assert str(path) in str(info.value) and ":6:" in str(info.value)


@pytest.mark.parametrize(
    "opinion, message",
    [
        (("pizza", -1, 3, "positive"), "outside its text"),
        (("pizza", 4, 99, "positive"), "outside its text"),
        (("pizza", "x", 9, "positive"), "integer from/to"),
        (("pizza", 4, 9, "great"), "polarity 'great'"),
    ],
)
def test_bad_opinions_are_data_errors(tmp_path, opinion, message):
    path = write(tmp_path, sentence("1:0", "The pizza.", opinion))
    with pytest.raises(DataError, match=message) as info:
        read_semeval(path, task="sentence_polarity")
    assert "'1:0'" in str(info.value)


def test_missing_text_element_and_missing_file(tmp_path):
    path = write(tmp_path, '<sentence id="1:0"><Opinions/></sentence>\n')
    with pytest.raises(DataError, match="<text>"):
        read_semeval(path)
    with pytest.raises(DataError, match="cannot read"):
        read_semeval(tmp_path / "restaurants_test_english.xml")


# === Real files: `shared_data` (tests/data/conftest.py) is $CLX_DATA_DIR or ../shared/data ===


LANGUAGES = {
    "en": "english",
    "es": "spanish",
    "fr": "french",
    "nl": "dutch",
    "ru": "russian",
    "tr": "turkish",
}

# SOURCE.md's table: sentences, OutOfScope, opinions, explicit targets, NULL targets.
TABLE = {
    ("en", "train"): (2000, 63, 2507, 1880, 627),
    ("en", "test"): (676, 34, 859, 650, 209),
    ("es", "train"): (2070, 124, 2720, 1937, 783),
    ("es", "test"): (881, 31, 1072, 731, 341),
    ("fr", "train"): (1733, 13, 2530, 1770, 760),
    ("fr", "test"): (694, 2, 954, 718, 236),
    ("nl", "train"): (1722, 11, 1860, 1283, 577),
    ("nl", "test"): (575, 4, 613, 394, 219),
    ("ru", "train"): (3655, 107, 4089, 3159, 930),
    ("ru", "test"): (1209, 41, 1300, 972, 328),
    ("tr", "train"): (1232, 128, 1535, 1385, 150),
    ("tr", "test"): (144, 20, 159, 159, 0),
}
# French sentences whose text could not be downloaded (SOURCE.md).
EMPTY_TEXTS = {("fr", "train"): 69, ("fr", "test"): 26}
# The Turkish test file writes 13 implicit targets as target="" (from=0 to=0), which
# SOURCE.md's table counts as explicit; the reader treats them as NULL.
EMPTY_TARGETS = {("tr", "test"): 13}
# Measured: overlapping target pairs (Dutch 1, Russian 4, Spanish 2 in train) and
# the UTF-16 offsets of Turkish train sentence 1149:1 (starts with an emoji).
OVERLAPS = {("nl", "train"): 1, ("ru", "train"): 4, ("es", "train"): 2}
OFFSET_FIXES = {("tr", "train"): 1}
# Measured with the majority rule of `read_semeval(task="sentence_polarity")`.
POLARITY_EXAMPLES = {
    ("en", "train"): 1609,
    ("en", "test"): 555,
    ("es", "train"): 1549,
    ("es", "test"): 653,
    ("fr", "train"): 1442,
    ("fr", "test"): 546,
    ("nl", "train"): 1258,
    ("nl", "test"): 432,
    ("ru", "train"): 2647,
    ("ru", "test"): 867,
    ("tr", "train"): 1004,
    ("tr", "test"): 120,
}
# Target strings that differ from their span beyond case: Turkish test 5016:4 lacks commas.
TARGET_MISMATCHES = {("tr", "test", "5016:4")}


def _real_file(root, language, split):
    name = f"restaurants_{split}_{LANGUAGES[language]}.xml"
    return root / "semeval2016_absa_restaurants" / split / name


def _raw_targets(path):
    return {
        s.get("id"): {o.get("target").casefold() for o in s.iter("Opinion")}
        for s in ET.parse(path).getroot().iter("sentence")
    }


@pytest.mark.parametrize("language, split", sorted(TABLE))
def test_real_file_counts_and_spans(shared_data, language, split):
    path = _real_file(shared_data, language, split)
    examples, stats = read_semeval(path)
    key = (language, split)
    sentences, out_of_scope, opinions, explicit, null = TABLE[key]
    empty, empty_targets = EMPTY_TEXTS.get(key, 0), EMPTY_TARGETS.get(key, 0)
    assert stats.sentences == sentences
    assert stats.skipped_empty == empty
    assert len(examples) == stats.examples == sentences - empty
    assert stats.out_of_scope == out_of_scope
    assert stats.opinions == opinions
    assert stats.targets == explicit - empty_targets
    assert stats.null_targets == null + empty_targets
    assert stats.overlaps_removed == OVERLAPS.get(key, 0)
    assert stats.offset_fixes == OFFSET_FIXES.get(key, 0)
    assert sum(len(e.spans) for e in examples) == stats.spans
    assert stats.spans == stats.targets - stats.duplicates_removed - stats.overlaps_removed
    assert {e.language for e in examples} == {language}

    targets = _raw_targets(path)
    for e in examples:
        starts = [s.start for s in e.spans]
        assert starts == sorted(starts)
        for s in e.spans:
            assert 0 <= s.start < s.end <= len(e.text) and s.label == "TARGET"
            if (language, split, e.id) not in TARGET_MISMATCHES:
                # casefold: Dutch target attributes are lower-cased
                assert e.text[s.start : s.end].casefold() in targets[e.id], (e.id, s)
        # every span becomes exactly one IOB entity
        _, tags = spans_to_word_tags(e.text, e.spans)
        assert len(tag_chunks(tags)) == len(e.spans)


@pytest.mark.parametrize("language, split", sorted(TABLE))
def test_real_file_sentence_polarity(shared_data, language, split):
    path = _real_file(shared_data, language, split)
    examples, stats = read_semeval(path, task="sentence_polarity")
    assert len(examples) == POLARITY_EXAMPLES[(language, split)]
    assert len(examples) == (stats.sentences - stats.skipped_empty - stats.skipped_no_opinions - stats.skipped_mixed)
    assert {e.label for e in examples} <= set(POLARITIES)
    assert all(e.spans is None for e in examples)
