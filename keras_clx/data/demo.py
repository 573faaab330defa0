"""The embedded demo corpus: a seeded synthetic source language and target "languages".

Every text is generated here, so the demo needs no files and no network.

The source language has `num_classes` topics. Each topic owns `words_per_class`
pseudo-words; a sentence of `min_length`..`max_length` words draws each word from
its own topic with probability `topic_share`, from another topic with probability
`distractor_share` (so the source task is not trivial), and otherwise from
`common_words` topic-neutral function words.

A target language is the source language through a seeded lexicon: each source
word is kept unchanged with probability `shared_share` (the language's cognates and
shared names; the only bridge a model trained from scratch has) and otherwise
replaced by a new pseudo-word from the target's own syllable inventory. Then each
adjacent word pair is swapped with probability `reorder` (word-order noise).
`targets` maps target names to their `shared_share`: the default `near` (0.6),
`mid` (0.35) and `far` (0.15) make zero-shot accuracy fall with the shared share,
well below the source's, which leaves room for the transfer methods.
"""

import dataclasses

import numpy as np

from keras_clx.data.corpus import CrossLingualCorpus, LanguageData
from keras_clx.data.records import Example

SOURCE_LANGUAGE = "source"


@dataclasses.dataclass
class DemoConfig:
    """Knobs of the demo corpus (all overridable from a recipe's `data.options`)."""

    num_classes: int = 4
    words_per_class: int = 40
    common_words: int = 120
    topic_share: float = 0.25
    distractor_share: float = 0.08
    min_length: int = 8
    max_length: int = 16
    targets: dict = dataclasses.field(default_factory=lambda: {"near": 0.6, "mid": 0.35, "far": 0.15})
    reorder: float = 0.3
    train_size: int = 2000
    dev_size: int = 300
    unlabeled_size: int = 1500
    unlabeled_gold: bool = False  # keep the unlabelled split's gold labels (see `make_demo_corpus`)
    test_size: int = 500
    seed: int = 0


_CLASS_NAMES = ["sports", "politics", "science", "cooking", "travel", "music", "health", "finance"]


def _syllables(consonants, vowels):
    return [c + v for c in consonants for v in vowels]


_SOURCE_SYLLABLES = _syllables("bdgklmnprst", "aeiou")
_TARGET_SYLLABLES = [
    _syllables("fhjvwz", "aeiouy"),
    _syllables("cqxhjy", "aoeu"),
    _syllables("vzwfkh", "iuyeo"),
]


def _make_words(rng, syllables, count, taken):
    words = []
    while len(words) < count:
        word = "".join(rng.choice(syllables, size=rng.integers(2, 4)))
        if word not in taken:
            taken.add(word)
            words.append(word)
    return words


def _class_names(num_classes):
    if num_classes <= len(_CLASS_NAMES):
        return _CLASS_NAMES[:num_classes]
    return [f"class_{i}" for i in range(num_classes)]


def _source_sentences(rng, config, count, topic_words, common):
    """`count` (word list, class id) pairs of the source language."""
    sentences = []
    classes = rng.integers(0, config.num_classes, size=count)
    for label in classes:
        length = rng.integers(config.min_length, config.max_length + 1)
        words = []
        for draw in rng.random(length):
            if draw < config.topic_share:
                words.append(rng.choice(topic_words[label]))
            elif draw < config.topic_share + config.distractor_share:
                other = rng.choice([c for c in range(config.num_classes) if c != label])
                words.append(rng.choice(topic_words[other]))
            else:
                words.append(rng.choice(common))
        sentences.append((words, int(label)))
    return sentences


def _translate(rng, words, lexicon, reorder):
    out = [lexicon[w] for w in words]
    i = 0
    while i < len(out) - 1:
        if rng.random() < reorder:
            out[i], out[i + 1] = out[i + 1], out[i]
            i += 2
        else:
            i += 1
    return out


def make_demo_corpus(config=None, **overrides):
    """Builds the demo `CrossLingualCorpus` (deterministic for a given config).

    With `unlabeled_gold`, the targets' unlabelled examples keep their gold labels,
    as the MTOD and MLDoc loaders' do: training never sees them (`corpus.unlabeled()`
    strips them); self-training reports the accuracy of its pseudo-labels with them.
    """
    config = dataclasses.replace(config or DemoConfig(), **overrides)
    if not 2 <= config.num_classes:
        raise ValueError("num_classes must be at least 2")
    rng = np.random.default_rng(config.seed)
    taken = set()
    topic_words = [
        _make_words(rng, _SOURCE_SYLLABLES, config.words_per_class, taken) for _ in range(config.num_classes)
    ]
    common = _make_words(rng, _SOURCE_SYLLABLES, config.common_words, taken)
    vocabulary = [w for group in topic_words for w in group] + common
    names = _class_names(config.num_classes)

    def examples(language, sentences, split):
        return [
            Example(" ".join(words), language, f"{language}:{split}:{i}", names[label])
            for i, (words, label) in enumerate(sentences)
        ]

    def sample(count):
        return _source_sentences(rng, config, count, topic_words, common)

    languages = {
        SOURCE_LANGUAGE: LanguageData(
            train=examples(SOURCE_LANGUAGE, sample(config.train_size), "train"),
            dev=examples(SOURCE_LANGUAGE, sample(config.dev_size), "dev"),
            test=examples(SOURCE_LANGUAGE, sample(config.test_size), "test"),
        )
    }
    for index, (name, shared_share) in enumerate(config.targets.items()):
        syllables = _TARGET_SYLLABLES[index % len(_TARGET_SYLLABLES)]
        lexicon = {}
        for word in vocabulary:
            keep = rng.random() < shared_share
            lexicon[word] = word if keep else _make_words(rng, syllables, 1, taken)[0]

        def translated(count, split, name=name, lexicon=lexicon):
            pairs = [(_translate(rng, w, lexicon, config.reorder), y) for w, y in sample(count)]
            return examples(name, pairs, split)

        languages[name] = LanguageData(
            dev=translated(config.dev_size, "dev"),
            test=translated(config.test_size, "test"),
            unlabeled=[
                e if config.unlabeled_gold else e.unlabeled() for e in translated(config.unlabeled_size, "unlabeled")
            ],
        )
    return CrossLingualCorpus(
        name="demo",
        languages=languages,
        sources=[SOURCE_LANGUAGE],
        targets=list(config.targets),
    )
