"""Records: one `Example` per text, with an optional label and optional spans.

- labelled text (sequence classification): `label` set;
- labelled token sequences (token classification): `spans` set, character offsets
  into `text` with the span type (IOB tags are derived from them, see `data/iob.py`);
- sentence pairs (XNLI, PAWS-X): `text_pair` set beside `text`, one label per pair;
- pre-tokenised text (CoNLL files): `words` set and `text` their space-joined
  string; entities as `spans` over `text`, or one plain tag per word in `tags`;
- unlabelled text: no label, spans or tags.
"""

import dataclasses
from typing import Optional

from keras_clx.errors import DataError


@dataclasses.dataclass(frozen=True)
class Span:
    """A labelled character span `text[start:end]` (end exclusive)."""

    start: int
    end: int
    label: str


@dataclasses.dataclass(frozen=True)
class Example:
    """One text with its language, a stable id and optional annotations."""

    text: str
    language: str
    id: str
    label: Optional[str] = None
    spans: Optional[tuple] = None
    text_pair: Optional[str] = None
    words: Optional[tuple] = None
    tags: Optional[tuple] = None

    @property
    def is_labeled(self):
        return self.label is not None or self.spans is not None or self.tags is not None

    @property
    def inputs(self):
        """What the model reads: `text`, or the pair `(text, text_pair)`."""
        return self.text if self.text_pair is None else (self.text, self.text_pair)

    def unlabeled(self):
        """The same text without its annotations (what a target language offers)."""
        return dataclasses.replace(self, label=None, spans=None, tags=None)

    def word_offsets(self):
        """`(word, start, end)` of the given `words` in `text` (`None` without words)."""
        if self.words is None:
            return None
        triples, start = [], 0
        for word in self.words:
            triples.append((word, start, start + len(word)))
            start += len(word) + 1
        return triples


class LabelVocabulary:
    """One ordered label set shared by every language of a run."""

    def __init__(self, names):
        names = list(names)
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate labels in {names}")
        self.names = names
        self._index = {name: i for i, name in enumerate(names)}

    @classmethod
    def from_examples(cls, examples):
        """Labels of `examples`, sorted, so that ids do not depend on file order."""
        return cls(sorted({e.label for e in examples if e.label is not None}))

    def __len__(self):
        return len(self.names)

    def __contains__(self, name):
        return name in self._index

    def __eq__(self, other):
        return isinstance(other, LabelVocabulary) and self.names == other.names

    def index(self, name):
        return self._index[name]

    def encode(self, examples, where="data"):
        """Label ids of `examples`; an unknown label is a `DataError` naming `where`."""
        self.check(examples, where)
        return [self._index[e.label] for e in examples]

    def check(self, examples, where="data"):
        for e in examples:
            if e.label is not None and e.label not in self._index:
                raise DataError(
                    f"label {e.label!r} of example {e.id!r} ({e.language}) is not in the source label set {self.names}",
                    path=where,
                )

    def to_json(self):
        return {"labels": self.names}

    @classmethod
    def from_json(cls, data):
        return cls(data["labels"])
