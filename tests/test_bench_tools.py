"""The benchmark tools' own logic (their timings are figures, not tests)."""

import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tools"))
import bench  # noqa: E402
import peer_transformers  # noqa: E402

MICRO = dict(num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32, vocabulary=50)


def test_forward_flops_counts_the_projections_the_ffn_and_attention():
    size = bench.SIZES["tiny"]  # 2 layers, hidden 64, inner 128, batch 16, sequence 32
    tokens = 16 * 32
    expected = tokens * 2 * (8 * 64 * 64 + 4 * 64 * 128) + 2 * 4 * 16 * 32 * 32 * 64
    assert bench.forward_flops(size) == expected


def test_bench_inputs_are_padded_batches_and_texts_in_the_vocabulary():
    size = dict(bench.SIZES["tiny"])
    x, y = bench.make_batch(size, seed=0)
    assert x["token_ids"].shape == (16, 32) and y.shape == (16,)
    np.testing.assert_array_equal(x["token_ids"] == 0, ~x["padding_mask"])
    vocabulary = set(bench.vocabulary(size))
    texts = bench.make_texts(size, 5)
    assert len(texts) == 5 and all(set(t.split()) <= vocabulary for t in texts)


def test_peer_fgm_adds_epsilon_times_the_normalised_gradient_and_restores_the_table():
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers", reason="the peer benchmark needs the `bench` extra")
    size = dict(batch=4, length=8, vocabulary=50)
    x, y = bench.make_batch(size, seed=0)
    model, optimizer = peer_transformers.build(MICRO, length=8)
    inputs, labels = peer_transformers.as_torch(x, y)
    model(**inputs, labels=labels).loss.backward()
    table = model.bert.embeddings.word_embeddings.weight
    before, grad = table.detach().clone(), table.grad.detach().clone()
    fgm = peer_transformers.FGM(model, epsilon=0.5)
    fgm.attack()
    r = table.detach() - before
    torch.testing.assert_close(r, 0.5 * grad / grad.norm())
    assert abs(float(r.norm()) - 0.5) < 1e-5
    fgm.restore()
    torch.testing.assert_close(table.detach(), before, rtol=0, atol=0)
    assert np.isfinite(peer_transformers.fgm_step(model, optimizer, fgm, inputs, labels))


def test_peer_loops_join_the_interleaved_repeats_of_the_methods():
    import argparse

    calls = []

    def runner(name, seconds):
        return lambda steps: calls.append((name, steps)) or seconds

    peer = {"plain": runner("plain", 0.5), "fgm": runner("fgm", 1.0)}
    args = argparse.Namespace(methods=[], repeats=2, steps=3, peak_tflops=None)
    results, times = bench.bench_train(bench.SIZES["tiny"], {}, {}, args, peer)
    assert calls == [("plain", 3), ("fgm", 3)] * 2
    assert results == {} and times == {"plain": [0.5, 0.5], "fgm": [1.0, 1.0]}


def test_peer_runners_time_warm_steps():
    pytest.importorskip("torch")
    pytest.importorskip("transformers", reason="the peer benchmark needs the `bench` extra")
    x, y = bench.make_batch(dict(batch=4, length=8, vocabulary=50), seed=0)
    runs = peer_transformers.runners(MICRO, 8, x, y, warmup=1)
    assert set(runs) == {"plain", "fgm"}
    assert all(0 < run(2) < 60 for run in runs.values())


def test_peer_speedup_is_the_median_of_paired_repeats():
    # a load spike in repeat 2 slows both loops alike; the pairs keep the ratio
    assert bench.paired_speedup([1.0, 3.0, 1.0], [2.0, 6.0, 1.5]) == 2.0
