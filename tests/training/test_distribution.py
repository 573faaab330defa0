"""Data-parallel training (fine-tuning and masked-LM pretraining) on 2 virtual CPU devices matches
single-device training."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import pytest

from keras_clx.errors import ClxError
from keras_clx.training.distribution import DataParallel

REPO = pathlib.Path(__file__).resolve().parents[2]
BACKEND = keras.backend.backend()
# Same data, seed and initial weights; dropout off. Per-replica sums and the
# all-reduce reorder float additions only.
TOLERANCE = 1e-4


def test_data_parallel_matches_single_device_for_every_step():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "data_parallel_check.py"), "--devices", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=REPO,
    )
    if BACKEND == "torch":  # Keras 3.15 has no torch data parallelism
        assert result.returncode != 0
        assert "not available on the torch backend" in result.stderr
        return
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(results) == {"vanilla", "adversarial", "weighted", "masked_lm"}
    for method, r in results.items():
        assert r["replicas"] == 2, method
        assert r["max_relative_difference"] < TOLERANCE, (method, r)
        assert r["single"][0] != r["single"][1], method  # it trained


def test_torch_refuses_with_one_line_and_exit_code_2(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_clx.cli",
            "--backend",
            "torch",
            "fit",
            "demo",
            "--set",
            "train.distribution=data_parallel",
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "torch" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_settings_are_checked():
    with pytest.raises(ClxError, match="train.distribution must be one of"):
        DataParallel("model_parallel", 16)
    assert DataParallel("none", 16).per_replica_batch == 16
