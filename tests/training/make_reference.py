"""Regenerates `data/perturbation_reference.npz` for the cross-backend test.

Computes, on TensorFlow, JAX and torch (one subprocess each), the embedding
gradient g and the adversarial perturbations of the tiny fixture model (weights
drawn by numpy, so identical on every backend) and stores them side by side:

    .venv/bin/python tests/training/make_reference.py

`test_perturbation.py::test_same_perturbation_on_tensorflow_jax_and_torch` checks
the current backend against all three.
"""

import importlib.util
import os
import pathlib
import subprocess
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
REFERENCE = HERE / "data" / "perturbation_reference.npz"
BACKENDS = ("tensorflow", "jax", "torch")


def fixtures():
    spec = importlib.util.spec_from_file_location("training_fixtures", HERE / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compute():
    """{name: array} on the current backend."""
    from keras import ops

    from keras_clx.training.steps import TransferConfig, embedding_gradient, perturbation

    fx = fixtures()
    model = fx.make_classifier(weights="numpy")
    x, y = fx.make_batch()
    results = {
        "g": embedding_gradient(model, x, y),
        "r_example": perturbation(model, x, y, TransferConfig("adversarial", 1.0, epsilon_mode="absolute")),
        "r_batch": perturbation(model, x, y, TransferConfig("adversarial", 1.0, norm="batch", epsilon_mode="absolute")),
        "r_3_steps": perturbation(
            model, x, y, TransferConfig("adversarial", 1.0, perturbation_steps=3, epsilon_mode="absolute")
        ),
    }
    results = {k: ops.convert_to_numpy(v) for k, v in results.items()}
    results["weights_checksum"] = np.float64(sum(np.abs(w).sum() for w in model.get_weights()))
    return results


def main():
    if len(sys.argv) == 2:  # worker: compute on $KERAS_BACKEND, write to argv[1]
        np.savez(sys.argv[1], **compute())
        return
    arrays = {}
    for backend in BACKENDS:
        out = HERE / "data" / f"_{backend}.npz"
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        subprocess.run([sys.executable, __file__, str(out)], env=env, check=True)
        with np.load(out) as data:
            arrays.update({f"{backend}/{k}": data[k] for k in data.files})
        out.unlink()
    np.savez_compressed(REFERENCE, **arrays)
    worst = max(
        float(np.abs(arrays[f"{a}/r_example"] - arrays[f"{b}/r_example"]).max()) for a in BACKENDS for b in BACKENDS
    )
    print(f"wrote {REFERENCE} (largest difference of r between backends: {worst:.2e})")


if __name__ == "__main__":
    main()
