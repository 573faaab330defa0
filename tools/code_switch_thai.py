"""Thai and WordPiece: how the vocabulary `recipes/mtod_cs.py` learns splits unsegmented Thai test text,
compared with Thai dictionary words inserted between spaces (numbers in docs/code_switching.md).

    PYTHONPATH=$PWD KERAS_BACKEND=jax CLX_DATA_DIR=../shared/data python tools/code_switch_thai.py
"""

import json
import os

import numpy as np

from keras_clx import code_switch_setup as code_switch
from keras_clx.data.datasets import load_corpus
from keras_clx.data.iob import split_words
from keras_clx.experiment import vocabulary_texts
from keras_clx.models.backbones import build_backbone
from keras_clx.recipes import load_recipe

recipe = load_recipe("recipes/mtod_cs.py")
corpus = load_corpus(recipe.data, seed=0)
texts = vocabulary_texts(corpus) + code_switch.vocabulary_texts(recipe, corpus)
_, pre = build_backbone("bert_tiny", texts=texts, sequence_length=32, vocabulary_size=8000)
tok = pre.tokenizer
vocab = tok.get_vocabulary()
unk = tok.token_to_id("[UNK]")


def ids(batch):
    out = tok(batch)
    return out.to_list() if hasattr(out, "to_list") else [list(map(int, o)) for o in out]


thai_vocab = [v for v in vocab if any("\u0e00" <= c <= "\u0e7f" for c in v)]
print(
    f"vocabulary {len(vocab)}; Thai entries {len(thai_vocab)} ({sum(v.startswith('##') for v in thai_vocab)} of them ##)"
)
test = [e.text for e in corpus.languages["th"].test]
words = [w for t in test for w, _, _ in split_words(t)]
thai_words = [w for w in words if "\u0e00" <= w[0] <= "\u0e7f"]
print(
    f"th test: {len(test)} utterances, {np.mean([len(split_words(t)) for t in test]):.2f} whitespace/punct words each; "
    f"Thai 'words' {len(thai_words)}, mean {np.mean([len(w) for w in thai_words]):.1f} chars (max {max(map(len, thai_words))})"
)
ti = ids(test)
n_tok = sum(len(t) for t in ti)
n_unk = sum(t.count(unk) for t in ti)
print(
    f"th test pieces/utterance {n_tok / len(ti):.1f}; [UNK] {100 * n_unk / n_tok:.1f}% of pieces, in {100 * np.mean([unk in t for t in ti]):.1f}% of utterances"
)
# gold segmentation of the test utterances (MTOD's own tokens column) -> words, and how each word tokenises

test_file = os.path.join(os.environ["CLX_DATA_DIR"], "multilingual_task_oriented_dialog/th/test-th.tsv")
with open(test_file, encoding="utf-8") as f:
    rows = [line.rstrip("\n").split("\t") for line in f]
gold = [json.loads(r[4])["tokenizations"][0]["tokens"] for r in rows]
dic = code_switch.dictionaries_for(recipe, corpus)["th"]
muse_th = {t for ts in dic.entries.values() for t in ts}
gold_words = [w for g in gold for w in g if "\u0e00" <= w[0] <= "\u0e7f"]
print(
    f"gold Thai test words: {len(gold_words)}; in the MUSE th side: {100 * np.mean([w in muse_th for w in gold_words]):.1f}%"
)
# inserted (spaced) word pieces vs the pieces the same word gets inside unsegmented text
alone = {w: p for w, p in zip(sorted(set(gold_words)), ids(sorted(set(gold_words))))}
same = inside = 0
checked = 0
for text, g in zip(test[:400], gold[:400]):
    pieces = [vocab[i] for i in ids([text])[0]]
    for w in g:
        if not ("\u0e00" <= w[0] <= "\u0e7f"):
            continue
        checked += 1
        wp = [vocab[i] for i in alone[w]]
        if unk in alone[w]:
            continue
        cont = ["##" + p.lstrip("#") if k == 0 else p for k, p in enumerate(wp)]
        if any(pieces[k : k + len(wp)] == wp for k in range(len(pieces))):
            same += 1
        elif any(pieces[k : k + len(cont)] == cont for k in range(len(pieces))):
            inside += 1
print(
    f"of {checked} gold Thai words in 400 test utterances: pieces as when inserted alone {100 * same / checked:.1f}%, "
    f"same pieces but word-internal (## first) {100 * inside / checked:.1f}%"
)
alone_unk = np.mean([unk in alone[w] for w in gold_words])
print(f"gold Thai words tokenised alone -> [UNK]: {100 * alone_unk:.1f}%")
