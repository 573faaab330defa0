"""`CrossLingualCorpus`: per-language splits, which languages are sources and which are targets."""

import dataclasses

from keras_clx.data.records import LabelVocabulary
from keras_clx.errors import DataError


@dataclasses.dataclass
class LanguageData:
    """The splits of one language. `unlabeled` holds texts whose labels are never used."""

    train: list = dataclasses.field(default_factory=list)
    dev: list = dataclasses.field(default_factory=list)
    test: list = dataclasses.field(default_factory=list)
    unlabeled: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class CrossLingualCorpus:
    """Labelled source languages and target languages to transfer to.

    `task` is `"sequence"` (one label per text), `"pair"` (one label per text pair),
    `"token"` (labelled spans) or `"tagging"` (one plain tag per word).
    Labels come from the union of the sources' training data; a label seen in
    a target split but never in the sources is an error (`validate`).
    """

    name: str
    languages: dict
    sources: list
    targets: list
    task: str = "sequence"

    @property
    def train(self):
        return [e for lang in self.sources for e in self.languages[lang].train]

    @property
    def dev(self):
        return [e for lang in self.sources for e in self.languages[lang].dev]

    def unlabeled(self, language=None):
        """Unlabelled texts of one target language, or of all targets in order."""
        langs = self.targets if language is None else [language]
        return [e.unlabeled() for lang in langs for e in self.languages[lang].unlabeled]

    @property
    def labels(self):
        if self.task == "token":
            names = sorted({s.label for e in self.train for s in (e.spans or ())})
            return LabelVocabulary(names)
        if self.task == "tagging":
            return LabelVocabulary(sorted({t for e in self.train for t in (e.tags or ())}))
        return LabelVocabulary.from_examples(self.train)

    def validate(self):
        """Check the corpus is usable; raises `DataError` naming the split at fault."""
        for lang in self.sources + self.targets:
            if lang not in self.languages:
                raise DataError(
                    f"language {lang!r} has no data; available: {sorted(self.languages)}",
                    path=self.name,
                )
        for lang in self.sources:
            if not self.languages[lang].train:
                raise DataError(f"source language {lang!r} has an empty train split", path=self.name)
        for lang in self.targets:
            if not self.languages[lang].test:
                raise DataError(f"target language {lang!r} has an empty test split", path=self.name)
        if self.task == "pair":
            for lang, data in self.languages.items():
                for split in ("train", "dev", "test", "unlabeled"):
                    for e in getattr(data, split)[:1]:
                        if e.text_pair is None:
                            raise DataError(
                                f"data.task=pair but example {e.id!r} has no second text "
                                "(a table needs options.text_pair)",
                                path=f"{self.name}/{lang}/{split}",
                            )
        if self.task in ("sequence", "pair"):
            labels = self.labels
            for lang, data in self.languages.items():
                for split in ("dev", "test"):
                    labels.check(getattr(data, split), where=f"{self.name}/{lang}/{split}")
        return self
