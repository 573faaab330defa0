"""Backbone factory: keras-hub presets, local preset directories, small from-scratch encoders.

`build_backbone(spec, texts, ...)` returns `(backbone, preprocessor)`:

- a small configuration name (`bert_tiny`, `bert_small`, `xlmr_tiny`, `xlmr_small`):
  randomly initialised, with a vocabulary learned from `texts` (WordPiece for BERT,
  SentencePiece for XLM-R). The default for the demo and the tests.
- a keras-hub preset name (`bert_base_multi`, `xlm_roberta_base_multi`, ...) or a
  `kaggle://` / `hf://` handle: downloaded by keras-hub on first use.
- a local preset directory (written by `save_to_preset`), or a local Hugging Face
  BERT / XLM-R checkpoint directory (`config.json` + `model.safetensors` + `vocab.txt`
  or `sentencepiece.bpe.model`), converted by keras-hub on load.
"""

import io
import os

import keras_hub

from keras_clx.errors import ClxError
from keras_clx.models.vocabulary_cache import cached

SMALL_CONFIGS = {
    "tiny": dict(num_layers=2, num_heads=2, hidden_dim=64, intermediate_dim=128),
    "small": dict(num_layers=4, num_heads=4, hidden_dim=256, intermediate_dim=1024),
    "base": dict(num_layers=12, num_heads=12, hidden_dim=768, intermediate_dim=3072),
}
FAMILIES = ("bert", "xlmr")
MULTILINGUAL_PRESETS = ("bert_base_multi", "xlm_roberta_base_multi", "xlm_roberta_large_multi")
_BERT_RESERVED = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"]


def small_backbone_names():
    return [f"{family}_{size}" for family in FAMILIES for size in SMALL_CONFIGS]


def backbone_family(backbone):
    """`"bert"` or `"xlmr"`: which embedding cut and pooling the classifiers use."""
    if isinstance(backbone, keras_hub.models.XLMRobertaBackbone):
        return "xlmr"
    if isinstance(backbone, keras_hub.models.BertBackbone):
        return "bert"
    raise ClxError(f"backbone {type(backbone).__name__} is not supported; use a BERT or XLM-R backbone")


def _text_dataset(texts):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(list(texts)).batch(256)


def learn_wordpiece_vocabulary(texts, vocabulary_size, lowercase=True):
    """A WordPiece vocabulary (at most `vocabulary_size` entries) learned from `texts` (cached)."""
    texts = list(texts)

    def learn():
        vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
            _text_dataset(texts),
            vocabulary_size=vocabulary_size,
            lowercase=lowercase,
            reserved_tokens=_BERT_RESERVED,
        )
        return "\n".join(vocabulary).encode("utf-8")

    data = cached(
        "wordpiece",
        texts,
        learn,
        vocabulary_size=vocabulary_size,
        lowercase=lowercase,
        reserved=tuple(_BERT_RESERVED),
        keras_hub=keras_hub.__version__,
    )
    # keras-hub saves a vocabulary one token per line and reads it back with `rstrip()`: a token
    # with surrounding whitespace (the learner makes " " and "## " of a no-break space in the
    # text) would change on reload, so the saved model would tokenise differently than the trained one
    return [token for token in data.decode("utf-8").split("\n") if token and token == token.strip()]


def learn_sentencepiece_proto(texts, vocabulary_size):
    """A SentencePiece unigram model learned from `texts`, with XLM-R's special ids (cached)."""
    import sentencepiece

    texts = [t for t in texts if t.strip()]
    return cached(
        "sentencepiece",
        texts,
        lambda: _train_sentencepiece(sentencepiece, texts, vocabulary_size),
        vocabulary_size=vocabulary_size,
        sentencepiece=sentencepiece.__version__,
    )


def _train_sentencepiece(sentencepiece, texts, vocabulary_size):
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=model,
        vocab_size=vocabulary_size,
        model_type="unigram",
        hard_vocab_limit=False,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        num_threads=1,
        minloglevel=2,
    )
    return model.getvalue()


def _small_backbone(name, texts, sequence_length, vocabulary_size, dtype=None):
    family, size = name.split("_", 1)
    if texts is None:
        raise ClxError(f"backbone {name!r} learns its vocabulary from the recipe's texts")
    if family == "bert":
        vocabulary = learn_wordpiece_vocabulary(texts, vocabulary_size)
        tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
        preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=sequence_length)
        backbone_cls = keras_hub.models.BertBackbone
    else:
        try:
            proto = learn_sentencepiece_proto(texts, vocabulary_size)
        except RuntimeError as error:  # e.g. fewer pieces than the text has characters
            reason = str(error).split("] ")[-1].split(" Increase")[0]
            raise ClxError(f"model.vocabulary_size={vocabulary_size} is too small for this text: {reason}") from None
        tokenizer = keras_hub.models.XLMRobertaTokenizer(proto=proto)
        preprocessor = keras_hub.models.XLMRobertaTextClassifierPreprocessor(tokenizer, sequence_length=sequence_length)
        backbone_cls = keras_hub.models.XLMRobertaBackbone
    backbone = backbone_cls(
        vocabulary_size=tokenizer.vocabulary_size(),
        max_sequence_length=max(sequence_length, 32),
        dtype=dtype,
        **SMALL_CONFIGS[size],
    )
    return backbone, preprocessor


def initialize_tokenizer(preprocessor):
    """Creates a SentencePiece tokenizer's TF resource eagerly.

    keras-hub creates it on first use; first used inside a `tf.data` map, it would
    belong to that pipeline's graph and vanish with it (later pipelines then fail
    with "SentencepieceResource does not exist")."""
    initialize = getattr(preprocessor.tokenizer, "_maybe_initialized_tf", None)
    if initialize is not None:
        import tensorflow as tf

        with tf.init_scope():
            initialize()
    return preprocessor


HF_MODEL_TYPES = {"bert": "vocab.txt", "xlm-roberta": "sentencepiece.bpe.model"}


def _check_local_dir(spec):
    """A one-line `ClxError` unless `spec` is a keras-hub preset or a supported HF checkpoint."""
    import json

    config_file = os.path.join(spec, "config.json")
    neither = f"backbone directory {spec!r} is neither a keras-hub preset nor a Hugging Face BERT / XLM-R checkpoint"
    if not os.path.isdir(spec):
        raise ClxError(f"backbone directory {spec!r} does not exist")
    try:
        with open(config_file, encoding="utf-8") as f:
            config = json.load(f)
    except FileNotFoundError:
        raise ClxError(f"{neither} (no config.json)") from None
    except (OSError, ValueError) as error:
        raise ClxError(f"{neither} (config.json unreadable: {error})") from None
    if not isinstance(config, dict) or "registered_name" in config:
        return
    model_type = config.get("model_type")
    if model_type is None:
        raise ClxError(f"{neither} (config.json has neither 'registered_name' nor 'model_type')")
    if model_type not in HF_MODEL_TYPES:
        raise ClxError(
            f"backbone directory {spec!r} is a Hugging Face {model_type!r} checkpoint; "
            f"supported: {', '.join(HF_MODEL_TYPES)}"
        )
    required = ["model.safetensors", HF_MODEL_TYPES[model_type]]
    if model_type == "bert":
        required.append("tokenizer_config.json")
    missing = [name for name in required if not os.path.isfile(os.path.join(spec, name))]
    if missing:
        raise ClxError(f"Hugging Face {model_type} checkpoint {spec!r} lacks {', '.join(missing)}")


def build_backbone(spec, texts=None, sequence_length=128, vocabulary_size=4000, dtype=None):
    """Returns `(backbone, preprocessor)` for a backbone spec (see the module docstring)."""
    if spec in small_backbone_names():
        backbone, preprocessor = _small_backbone(spec, texts, sequence_length, vocabulary_size, dtype)
        return backbone, initialize_tokenizer(preprocessor)
    looks_local = os.sep in spec or spec.startswith(".") or os.path.isdir(spec)
    if looks_local:
        _check_local_dir(spec)
    known = set(keras_hub.models.Backbone.presets) | set(MULTILINGUAL_PRESETS)
    is_handle = "://" in spec
    if not (looks_local or is_handle or spec in known):
        import difflib

        options = small_backbone_names() + sorted(MULTILINGUAL_PRESETS)
        close = difflib.get_close_matches(spec, options + sorted(known), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ClxError(
            f"unknown backbone {spec!r}{hint} (small: {', '.join(small_backbone_names())}; "
            f"presets such as {', '.join(MULTILINGUAL_PRESETS)}; or a local preset directory)"
        )
    try:
        backbone = keras_hub.models.Backbone.from_preset(spec, dtype=dtype)
        preprocessor = keras_hub.models.TextClassifierPreprocessor.from_preset(spec, sequence_length=sequence_length)
    except (OSError, ValueError) as error:
        raise ClxError(f"cannot load backbone {spec!r}: {error}") from error
    backbone_family(backbone)
    if looks_local:
        _match_hf_accents(spec, preprocessor.tokenizer)
    return backbone, initialize_tokenizer(preprocessor)


def _match_hf_accents(spec, tokenizer):
    """Hugging Face's BERT tokenizer strips accents when it lowercases (unless its
    `strip_accents` says otherwise); keras-hub's converter only lowercases."""
    import json

    config_file = os.path.join(spec, "tokenizer_config.json")
    if not hasattr(tokenizer, "strip_accents") or not os.path.isfile(config_file):
        return
    with open(config_file, encoding="utf-8") as f:
        config = json.load(f)
    strip = config.get("strip_accents")
    tokenizer.strip_accents = bool(config.get("do_lower_case", False) if strip is None else strip)
