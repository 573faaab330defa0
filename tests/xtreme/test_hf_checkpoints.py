"""`model.backbone=DIR` for a local Hugging Face BERT or XLM-R checkpoint: the backbone's
hidden states equal `transformers`' within 1e-4 and the tokenizer gives the same ids."""

import json

import keras
import numpy as np
import pytest

from keras_clx.errors import ClxError
from keras_clx.models.backbones import build_backbone

transformers = pytest.importorskip("transformers", reason="transformers is not installed")
torch = pytest.importorskip("torch", reason="transformers' models need torch")

TEXTS = ["the red cat sleeps in the house", "der rote Hund läuft schnell", "le chat rouge dort"] * 20
SMALL = dict(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, max_position_embeddings=40
)


def bert_checkpoint(directory):
    words = sorted({w for t in TEXTS for w in t.lower().split()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, "##s", "##e", "##n"]
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = transformers.BertTokenizer(vocab=str(directory / "vocab.txt"), do_lower_case=True)
    tokenizer.save_pretrained(str(directory))
    model = transformers.BertModel(transformers.BertConfig(vocab_size=len(vocab), **SMALL))
    return tokenizer, model


def xlmr_checkpoint(directory):
    from keras_clx.models.backbones import learn_sentencepiece_proto

    (directory / "sentencepiece.bpe.model").write_bytes(learn_sentencepiece_proto(TEXTS, 60))
    tokenizer = transformers.XLMRobertaTokenizer.from_pretrained(str(directory))  # from the SentencePiece file
    tokenizer.save_pretrained(str(directory))
    model = transformers.XLMRobertaModel(transformers.XLMRobertaConfig(vocab_size=len(tokenizer), **SMALL))
    return tokenizer, model


@pytest.mark.parametrize("family", ["bert", "xlmr"])
def test_hf_checkpoint_matches_transformers(family, tmp_path):
    torch.manual_seed(0)
    tokenizer, model = (bert_checkpoint if family == "bert" else xlmr_checkpoint)(tmp_path)
    model.eval().save_pretrained(str(tmp_path))
    backbone, preprocessor = build_backbone(str(tmp_path), sequence_length=16)
    assert type(backbone).__name__ == ("BertBackbone" if family == "bert" else "XLMRobertaBackbone")
    texts = ["The red cat sleeps", "der Hund läuft schnell in the house"]
    keras_ids = [keras.ops.convert_to_numpy(preprocessor.tokenizer(t)).tolist() for t in texts]
    assert keras_ids == [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    x = preprocessor(texts)
    token_ids = keras.ops.convert_to_numpy(x["token_ids"])
    mask = keras.ops.convert_to_numpy(x["padding_mask"]).astype(bool)
    for row, valid, text in zip(token_ids, mask, texts):  # with the special tokens, as transformers adds them
        assert row[valid].tolist() == tokenizer(text, truncation=True, max_length=16)["input_ids"]
    outputs = backbone({k: x[k] for k in backbone.input})
    ours = outputs["sequence_output"] if family == "bert" else outputs
    with torch.no_grad():
        theirs = model(
            input_ids=torch.tensor(token_ids.astype("int64")), attention_mask=torch.tensor(mask.astype("int64"))
        ).last_hidden_state.numpy()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours)[mask], theirs[mask], atol=1e-4)


def test_directories_that_are_not_checkpoints_are_one_line_errors(tmp_path):
    with pytest.raises(
        ClxError,
        match="neither a keras-hub preset nor a Hugging Face BERT / XLM-R checkpoint "
        r"\(no config.json\)",
    ):
        build_backbone(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ClxError, match="is a Hugging Face 'gpt2' checkpoint; supported: bert, xlm-roberta"):
        build_backbone(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ClxError, match="checkpoint .* lacks model.safetensors, vocab.txt, tokenizer_config.json"):
        build_backbone(str(tmp_path))
    with pytest.raises(ClxError, match="does not exist"):
        build_backbone(str(tmp_path / "nowhere"))


def test_fit_on_a_hf_checkpoint_directory(pair_recipe, tmp_path):
    from keras_clx.experiment import fit, load_run

    tokenizer, model = xlmr_checkpoint(tmp_path)
    model.save_pretrained(str(tmp_path))
    run = fit(pair_recipe(f"model.backbone={tmp_path}"), out_dir=tmp_path / "run", verbose=0)
    assert type(run.model.backbone).__name__ == "XLMRobertaBackbone"
    row = run.predict(["red cat ."], pairs=["cat red ."])[0]
    assert load_run(tmp_path / "run").predict(["red cat ."], pairs=["cat red ."])[0] == row
