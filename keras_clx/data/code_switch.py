"""Dictionary code-switching (CoSDA-ML, Qin et al. 2020) and code-switched challenge sets.

`CodeSwitcher.switch` replaces each word of a text that has a translation, with
probability `rate`, by a random translation into one of the sentence's languages
(`languages_per_sentence` of the dictionaries, drawn per sentence; 0: all):

    "set an alarm for 8 am"  ->  "set una alarma for 8 am"      (rate 0.5, es)

Words are `iob.split_words` words (punctuation is kept), looked up lower-cased; the rest of the text
(spaces, punctuation) is kept. IOB tags follow the words: a word tagged `B-X`
replaced by a two-word translation gives `B-X I-X`, one tagged `I-X` gives
`I-X I-X`, `O` stays `O`.

Training (`train.code_switch`): the switched texts are drawn afresh every time a
source text is served, from `(seed, occurrence of that text, text)`, so every
epoch sees another switch and a run is reproducible. Sequence tasks switch
inside the preprocessing step of the batch (`SwitchingPreprocessor`), which is
also what self-training's growing dataset is mapped with; only the source
training texts are switched (pseudo-labelled target text passes unchanged).
Token tasks re-encode each epoch from `(seed, epoch)` (`token_switch_dataset`).
`keep_original`: each batch holds its originals and one switched copy of each.

Challenge sets (`eval.code_switched`): the source test set switched into each
target language at `rate` from `seed`, written to `<run>/challenge/` as JSONL
and scored as extra report rows (`en>es`, role `challenge`).
"""

import json
import pathlib
import unicodedata
import zlib

import numpy as np

from keras_clx.data.iob import spans_to_word_tags, split_words, tags_to_spans
from keras_clx.data.languages import is_unspaced
from keras_clx.data.records import Example, Span
from keras_clx.errors import RecipeError


def _is_word(word):
    """Letters or digits (punctuation words are never replaced: a translation could fuse with a neighbour)."""
    return unicodedata.category(word[0])[0] in "LMN"


def _follow_tag(tag, count):
    """Tags of `count` words that replace one word tagged `tag`."""
    if tag == "O":
        return ["O"] * count
    return [tag] + ["I-" + tag[2:]] * (count - 1)


class CodeSwitcher:
    """Replaces words by dictionary translations.

    Args:
        dictionaries: `{language: Dictionary}`.
        rate: probability that a word with a translation is replaced.
        languages_per_sentence: languages drawn per sentence (0: all).
        seed: seed of `rng_for`.
        join_unspaced: neighbouring translations into a language written without spaces (Thai,
            Chinese, Japanese, ...) are joined into one run, as its own text writes them, instead of
            being inserted as space-separated words (texts without tags: sequence tasks).
    """

    def __init__(self, dictionaries, rate=0.5, languages_per_sentence=0, seed=0, join_unspaced=False):
        if not dictionaries:
            raise RecipeError("code-switching needs at least one dictionary")
        if not 0.0 <= rate <= 1.0:
            raise RecipeError(f"code-switching rate must be in [0, 1], got {rate}")
        self.dictionaries = dict(dictionaries)
        self.languages = sorted(self.dictionaries)
        self.rate = rate
        self.languages_per_sentence = languages_per_sentence
        self.seed = seed
        self.join_unspaced = join_unspaced

    @classmethod
    def from_settings(cls, settings, dictionaries, seed):
        """The switcher of a recipe's `train.code_switch` section (rate, languages per sentence,
        joining) over `dictionaries`."""
        return cls(
            dictionaries,
            settings.rate,
            settings.languages_per_sentence,
            seed=seed,
            join_unspaced=settings.join_unspaced,
        )

    def rng_for(self, text, draw):
        """The generator of the `draw`-th switch of `text` (independent of call order)."""
        return np.random.default_rng([self.seed, draw, zlib.crc32(text.encode("utf-8"))])

    def _sentence_languages(self, rng):
        k = self.languages_per_sentence
        if not k or k >= len(self.languages):
            return self.languages
        return sorted(rng.choice(self.languages, size=k, replace=False).tolist())

    def switch(self, text, rng, tags=None, words=None):
        """Switches `text`; returns `(text, words, tags)` (`tags` None if not given).

        `words` are `text`'s `(word, start, end)` triples (default `split_words`),
        `tags` one IOB tag per word; both come back for the new text.
        """
        words = split_words(text) if words is None else words
        languages = self._sentence_languages(rng)
        pieces, new_words, new_tags, cursor, length = [], [], [], 0, 0
        previous = None  # the language of the word just emitted, when it was a translation
        for i, (word, start, end) in enumerate(words):
            tag = tags[i] if tags is not None else "O"
            options = (
                []
                if not _is_word(word)
                else [(lang, t) for lang in languages for t in self.dictionaries[lang].translations(word)]
            )
            replacement = None
            if options and rng.random() < self.rate:
                lang = languages[0] if len(languages) == 1 else rng.choice(sorted({o[0] for o in options}))
                choices = [t for o_lang, t in options if o_lang == lang]
                replacement = choices[int(rng.integers(len(choices)))]
            gap = text[cursor:start]
            joined = self.join_unspaced and tags is None  # a token task keeps the words (and tags) apart
            if replacement is not None and previous == lang and joined and is_unspaced(lang):
                gap = gap if gap.strip() else ""  # two translations into Thai, Chinese, ... written as one run
            pieces.append(gap)
            length += len(gap)
            previous = lang if replacement is not None and split_words(replacement) else None
            if replacement is None or not split_words(replacement):
                pieces.append(word)
                new_words.append((word, length, length + len(word)))
                new_tags.append(tag)
                length += len(word)
            else:
                inserted = split_words(replacement)
                new_words.extend((w, length + s, length + e) for w, s, e in inserted)
                new_tags.extend(_follow_tag(tag, len(inserted)))
                pieces.append(replacement)
                length += len(replacement)
            cursor = end
        pieces.append(text[cursor:])
        return "".join(pieces), new_words, (new_tags if tags is not None else None)

    def switch_text(self, text, draw=0):
        """The `draw`-th switched version of `text` (deterministic)."""
        return self.switch(text, self.rng_for(text, draw))[0]

    def switch_example(self, example, draw=0, language=None):
        """`example` switched (its spans follow); `language` names the result."""
        rng = self.rng_for(example.text, draw)
        if example.spans is None:
            text = self.switch(example.text, rng)[0]
            spans = None
        else:
            words, tags = spans_to_word_tags(example.text, example.spans)
            text, words, tags = self.switch(example.text, rng, tags=tags, words=words)
            spans = tuple(tags_to_spans(words, tags))
        return Example(text, language or example.language, example.id, example.label, spans)


# --- training ---


class SwitchingPreprocessor:
    """Wraps a preprocessor: `(texts, y[, w])` batches get their source texts switched.

    Called with labels (training batches), each text in `source_texts` is replaced
    by a fresh switch (its n-th draw the n-th time it is served); with
    `keep_original` the switched copies are appended to the batch (labels and
    weights repeated). Called with texts only (prediction), it passes through.
    """

    def __init__(self, preprocessor, switcher, source_texts, keep_original=True):
        self.preprocessor = preprocessor
        self.switcher = switcher
        self.source_texts = set(source_texts)
        self.keep_original = keep_original
        self.draws = {}

    def switch_batch(self, texts):
        out = []
        for raw in texts:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
            if text in self.source_texts:
                draw = self.draws.get(text, 0)
                self.draws[text] = draw + 1
                text = self.switcher.switch_text(text, draw)
            out.append(text.encode("utf-8"))
        return np.array(out, dtype=object)

    def __call__(self, x, y=None, sample_weight=None):
        import tensorflow as tf

        if y is None:
            return self.preprocessor(x)
        switched = tf.numpy_function(self.switch_batch, [x], tf.string, stateful=True)
        switched.set_shape(x.shape)
        if self.keep_original:
            x = tf.concat([x, switched], 0)
            y = tf.concat([y, y], 0)
            if sample_weight is not None:
                sample_weight = tf.concat([sample_weight, sample_weight], 0)
        else:
            x = switched
        if sample_weight is None:
            return self.preprocessor(x, y)
        return self.preprocessor(x, y, sample_weight)


def token_switch_dataset(examples, iob_labels, preprocessor, batch_size, switcher, seed=0, keep_original=True):
    """Token-task batches `(x, y)` re-switched and re-encoded every epoch from `(seed, epoch)`."""
    import tensorflow as tf

    from keras_clx.data.token_pipeline import encode_examples, encode_word_tags

    original, original_y = encode_examples(examples, iob_labels, preprocessor)  # also checks the spans
    base = [spans_to_word_tags(e.text, e.spans) for e in examples]
    length = preprocessor.sequence_length
    epoch = [0]

    def batches():
        draw = epoch[0]
        epoch[0] += 1
        switched = [
            switcher.switch(e.text, switcher.rng_for(e.text, draw), tags=t, words=w)
            for e, (w, t) in zip(examples, base)
        ]
        encoding, y = encode_word_tags(
            [s[0] for s in switched], [s[1] for s in switched], [s[2] for s in switched], iob_labels, preprocessor
        )
        if keep_original:  # rows n.. are the switched copies of rows 0..n-1
            encoding.x = {k: np.concatenate([original.x[k], v]) for k, v in encoding.x.items()}
            y = np.concatenate([original_y, y])
        n = len(examples)
        order = np.random.default_rng([seed, draw]).permutation(n)
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            rows = np.concatenate([rows, rows + n]) if keep_original else rows
            yield {k: v[rows] for k, v in encoding.x.items()}, y[rows]

    x_spec = {k: tf.TensorSpec((None, length), tf.as_dtype(v.dtype)) for k, v in original.x.items()}
    signature = (x_spec, tf.TensorSpec((None, length), tf.int32))
    return tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(tf.data.AUTOTUNE)


# === Challenge sets ===


def challenge_set(examples, switcher, language, seed):
    """`examples` switched into `language` only, reproducibly from `seed`."""
    single = CodeSwitcher({language: switcher.dictionaries[language]}, switcher.rate, 0, seed=seed)
    return [single.switch_example(e, draw=0) for e in examples]


def write_challenge_set(path, examples):
    with open(path, "w", encoding="utf-8") as f:
        for e in examples:
            spans = None if e.spans is None else [[s.start, s.end, s.label] for s in e.spans]
            f.write(
                json.dumps(
                    {"id": e.id, "language": e.language, "text": e.text, "label": e.label, "spans": spans},
                    ensure_ascii=False,
                )
                + "\n"
            )


def read_challenge_set(path):
    examples = []
    for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        spans = None if row["spans"] is None else tuple(Span(*s) for s in row["spans"])
        examples.append(Example(row["text"], row["language"], row["id"], row["label"], spans))
    return examples
