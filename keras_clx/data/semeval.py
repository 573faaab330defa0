"""Reader for SemEval-2016 Task 5 (ABSA), restaurants, subtask 1 (sentence-level XML).

Two views of one file:

- `task="token"`: opinion target extraction. One `Example` per sentence with
  `spans` = its explicit opinion targets as `Span(start, end, "TARGET")`.
- `task="sentence_polarity"`: sequence classification. One `Example` per
  sentence with `label` = the sentence polarity (see `read_semeval`).

The character offsets (`from`/`to`) are trusted over the `target` strings, which
differ from the text in a few places (lower-cased Dutch targets, one Turkish test
target without the commas of its span). The one exception is offsets counted in
UTF-16 units (a Turkish sentence that contains an emoji), which are converted.
"""

import collections
import dataclasses
import os
import xml.etree.ElementTree as ET

from keras_clx.data import languages
from keras_clx.data.records import Example, Span
from keras_clx.errors import DataError

TARGET = "TARGET"
POLARITIES = ("positive", "negative", "neutral")

_LANGUAGES = {name: code for code, name in languages.names(languages.SEMEVAL2016).items()}


@dataclasses.dataclass
class SemEvalStats:
    """What `read_semeval` read, skipped and repaired in one file.

    Opinion and target counts cover the sentences with a non-empty text.
    `targets - duplicates_removed - overlaps_removed == spans`.
    """

    sentences: int = 0  # <sentence> elements in the file
    examples: int = 0  # examples returned
    skipped_empty: int = 0  # empty <text>: no text to classify
    skipped_no_opinions: int = 0  # "sentence_polarity" only
    skipped_mixed: int = 0  # "sentence_polarity" only: tie or "conflict" majority
    out_of_scope: int = 0  # OutOfScope="TRUE" sentences (kept)
    duplicate_ids: int = 0  # sentence ids seen before in the file (kept as they are)
    opinions: int = 0
    null_targets: int = 0  # implicit targets ("NULL" or ""): no span
    targets: int = 0  # explicit targets
    duplicates_removed: int = 0  # same span as another opinion of the sentence
    overlaps_removed: int = 0  # overlapping a longer (or equally long, earlier) span
    offset_fixes: int = 0  # UTF-16 offsets converted to code points
    spans: int = 0  # spans kept


def language_from_filename(path):
    """Language code from a file name such as `restaurants_train_english.xml` (`"en"`)."""
    name = os.path.basename(path).lower()
    found = [code for word, code in _LANGUAGES.items() if word in name]
    if len(found) != 1:
        raise DataError(
            f"cannot tell the language from the file name; pass language= "
            f"(file names with one of {sorted(_LANGUAGES)} are recognised)",
            path=path,
        )
    return found[0]


def read_semeval(path, language=None, task="token"):
    """Read one SemEval-2016 Task 5 subtask 1 XML file.

    Rules, for both tasks:

    - sentences with an empty `<text>` are skipped (`stats.skipped_empty`; the
      French files have 69 train / 26 test of them);
    - `OutOfScope="TRUE"` sentences are kept (`stats.out_of_scope`);
    - implicit targets (`NULL` in any case, or an empty `target` as in the Turkish
      test file) give no span; the sentence is kept, possibly with no spans;
    - spans are de-duplicated (one target, several categories); of overlapping
      spans the longer one is kept (on equal length, the one that starts first),
      so that IOB tags are well-formed;
    - when `text[from:to]` does not match the target (ignoring case) but the same
      offsets counted in UTF-16 units do, they are converted (`stats.offset_fixes`);
      otherwise the offsets are trusted;
    - offsets outside the text are a `DataError`.

    With `task="sentence_polarity"` the label is the most frequent polarity among
    the sentence's opinions (NULL targets included, one vote per opinion).
    Sentences without opinions (`stats.skipped_no_opinions`) and sentences whose
    most frequent polarity is tied or is `"conflict"` (`stats.skipped_mixed`) are
    skipped, so labels are one of `POLARITIES`.

    Args:
        path: the XML file.
        language: language code of the examples; by default taken from the file
            name (`english`, `spanish`, `french`, `dutch`, `russian`, `turkish`).
        task: `"token"` or `"sentence_polarity"`.

    Returns:
        `(examples, stats)`: a list of `Example` (id = the sentence `id`
        attribute, in file order) and a `SemEvalStats`.
    """
    if task not in ("token", "sentence_polarity"):
        raise ValueError(f"task must be 'token' or 'sentence_polarity', got {task!r}")
    if language is None:
        language = language_from_filename(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise DataError(f"malformed XML: {e.msg}", path=path, line=e.position[0]) from None
    except OSError as e:
        raise DataError(f"cannot read file: {e.strerror}", path=path) from None

    stats = SemEvalStats()
    seen_ids = set()
    examples = []
    for sentence in root.iter("sentence"):
        stats.sentences += 1
        sentence_id = sentence.get("id")
        text_element = sentence.find("text")
        if sentence_id is None or text_element is None:
            raise DataError(
                f"sentence #{stats.sentences} needs an id attribute and a <text> element",
                path=path,
            )
        if sentence_id in seen_ids:
            stats.duplicate_ids += 1
        seen_ids.add(sentence_id)
        text = text_element.text or ""
        if not text.strip():
            stats.skipped_empty += 1
            continue
        if sentence.get("OutOfScope", "").upper() == "TRUE":
            stats.out_of_scope += 1
        opinions = sentence.findall("./Opinions/Opinion")
        spans = _sentence_spans(opinions, text, sentence_id, path, stats)
        if task == "token":
            examples.append(Example(text, language, sentence_id, spans=spans))
            continue
        label = _sentence_polarity(opinions, sentence_id, path, stats)
        if label is not None:
            examples.append(Example(text, language, sentence_id, label=label))
    stats.examples = len(examples)
    return examples, stats


def _sentence_spans(opinions, text, sentence_id, path, stats):
    found = []
    for opinion in opinions:
        stats.opinions += 1
        target = opinion.get("target")
        if target is None or target.strip().upper() in ("", "NULL"):
            stats.null_targets += 1
            continue
        stats.targets += 1
        start, end = _offsets(opinion, target, text, sentence_id, path, stats)
        found.append((start, end))
    unique = set(found)
    stats.duplicates_removed += len(found) - len(unique)
    kept = []
    for start, end in sorted(unique, key=lambda s: (s[0] - s[1], s[0])):
        if all(end <= s or start >= e for s, e in kept):
            kept.append((start, end))
    stats.overlaps_removed += len(unique) - len(kept)
    stats.spans += len(kept)
    return tuple(Span(start, end, TARGET) for start, end in sorted(kept))


def _offsets(opinion, target, text, sentence_id, path, stats):
    try:
        start, end = int(opinion.get("from")), int(opinion.get("to"))
    except (TypeError, ValueError):
        raise DataError(
            f"sentence {sentence_id!r}: target {target!r} needs integer from/to, got "
            f"from={opinion.get('from')!r} to={opinion.get('to')!r}",
            path=path,
        ) from None
    if text[start:end].casefold() != target.casefold():
        fixed = _utf16_offsets(text, start, end)
        if fixed is not None and text[fixed[0] : fixed[1]].casefold() == target.casefold():
            stats.offset_fixes += 1
            start, end = fixed
    if not 0 <= start < end <= len(text):
        raise DataError(
            f"sentence {sentence_id!r}: offsets from={start} to={end} of target {target!r} "
            f"are outside its text of {len(text)} characters",
            path=path,
        )
    return start, end


def _utf16_offsets(text, start, end):
    """Code-point offsets for UTF-16 offsets, or None if there is no such slice."""
    if all(ord(c) <= 0xFFFF for c in text) or not 0 <= start <= end:
        return None
    units = text.encode("utf-16-le")
    try:
        head = units[: 2 * start].decode("utf-16-le")
        body = units[2 * start : 2 * end].decode("utf-16-le")
    except UnicodeDecodeError:  # an offset splits a surrogate pair
        return None
    return len(head), len(head) + len(body)


def _sentence_polarity(opinions, sentence_id, path, stats):
    if not opinions:
        stats.skipped_no_opinions += 1
        return None
    polarities = [o.get("polarity") for o in opinions]
    for polarity in polarities:
        if polarity not in POLARITIES + ("conflict",):
            raise DataError(
                f"sentence {sentence_id!r}: polarity {polarity!r} is not one of {list(POLARITIES) + ['conflict']}",
                path=path,
            )
    counts = collections.Counter(polarities).most_common(2)
    (label, count), runner_up = counts[0], counts[1:]
    if label not in POLARITIES or (runner_up and runner_up[0][1] == count):
        stats.skipped_mixed += 1
        return None
    return label
