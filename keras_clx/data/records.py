"""Records: one `Example` per text, with an optional label and optional spans.

- labelled text (sequence classification): `label` set;
- labelled token sequences (token classification): `spans` set, character offsets
  into `text` with the span type (IOB tags are derived from them, see `data/iob.py`);
- unlabelled text: neither set.
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

    @property
    def is_labeled(self):
        return self.label is not None or self.spans is not None

    def unlabeled(self):
        """The same text without its annotations (what a target language offers)."""
        return dataclasses.replace(self, label=None, spans=None)


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
                    f"label {e.label!r} of example {e.id!r} ({e.language}) is not in the "
                    f"source label set {self.names}",
                    path=where,
                )

    def to_json(self):
        return {"labels": self.names}

    @classmethod
    def from_json(cls, data):
        return cls(data["labels"])
