"""`TransferGuard`: one warning when a perturbation overwhelms training, none otherwise."""

import io
import types

import pytest

from keras_clx.training.guard_rails import TransferGuard
from keras_clx.training.steps import TransferConfig, TransferStep


def run_guard(history, perturbation="adversarial", num_classes=3, epsilon_mode="relative"):
    """Feeds per-epoch `history` logs to a guard on a stand-in model; returns (guard, stderr, logs)."""
    model = types.SimpleNamespace(
        transfer=TransferStep(TransferConfig(perturbation, 0.2, epsilon_mode=epsilon_mode)) if perturbation else None,
        num_classes=num_classes,
    )
    stream = io.StringIO()
    guard = TransferGuard(stream=stream)
    guard.set_model(model)
    logs = []
    for epoch, values in enumerate(history):
        values = dict(values)
        guard.on_epoch_end(epoch, values)
        logs.append(values)
    return guard, stream.getvalue(), logs


HEALTHY = [
    {"accuracy": 0.45, "clean_loss": 1.05, "adv_loss": 1.10, "perturbation_ratio": 0.2, "perturbation_norm": 0.25},
    {"accuracy": 0.62, "clean_loss": 0.85, "adv_loss": 0.95, "perturbation_ratio": 0.2, "perturbation_norm": 0.25},
    {"accuracy": 0.75, "clean_loss": 0.60, "adv_loss": 0.80, "perturbation_ratio": 0.2, "perturbation_norm": 0.25},
]


def test_no_warning_on_a_healthy_run():
    guard, text, logs = run_guard(HEALTHY)
    assert guard.warning is None and "warning" not in text
    assert "‖r‖/‖e‖ = 0.200" in text  # the size report after the first epoch
    assert [entry["perturbation_warning"] for entry in logs] == [0.0, 0.0, 0.0]


def test_warns_once_when_the_perturbed_loss_stays_far_above_the_clean_loss():
    history = [dict(e, adv_loss=3 * e["clean_loss"]) for e in HEALTHY]
    guard, text, logs = run_guard(history, epsilon_mode="absolute")
    lines = [line for line in text.splitlines() if "warning" in line]
    assert len(lines) == 1 and lines[0].startswith("[keras-clx] warning: ")
    assert "3.0x the clean loss in epoch 1" in lines[0] and "train.epsilon" in lines[0]
    assert "train.epsilon_mode=relative" in lines[0]
    assert [entry["perturbation_warning"] for entry in logs] == [1.0, 1.0, 1.0]


def test_silent_when_a_small_clean_loss_is_doubled_late_in_training():
    """Adversarial training at work (measured on UMSAB at the default ε: clean 0.27, perturbed 0.54
    in epoch 5): the perturbed examples are still far from a uniform guess (log 3 = 1.10)."""
    late = [
        dict(HEALTHY[0]),
        {**HEALTHY[2], "clean_loss": 0.27, "adv_loss": 0.54},
        {**HEALTHY[2], "clean_loss": 0.1, "adv_loss": 0.3},
    ]
    guard, text, _ = run_guard(late)
    assert guard.warning is None and "warning" not in text


def test_warns_when_accuracy_stays_at_chance_after_the_first_epoch():
    history = [dict(e, accuracy=0.34) for e in HEALTHY]
    guard, text, logs = run_guard(history)
    assert text.count("warning") == 1 and "still near chance (0.333) after epoch 3" in text
    assert [entry["perturbation_warning"] for entry in logs] == [0.0, 0.0, 1.0]
    # At chance in the first two epochs, then learning (a slow start): no warning.
    slow = [dict(HEALTHY[0], accuracy=0.33), dict(HEALTHY[1], accuracy=0.36), HEALTHY[2]]
    guard, text, _ = run_guard(slow)
    assert guard.warning is None


@pytest.mark.parametrize("perturbation", [None, "virtual"])
def test_silent_without_a_comparable_perturbed_loss(perturbation):
    history = [dict(e, adv_loss=5 * e["clean_loss"]) for e in HEALTHY]
    guard, text, logs = run_guard(history, perturbation=perturbation)
    assert guard.warning is None and "warning" not in text
    if perturbation is None:
        assert "perturbation_warning" not in logs[0]  # nothing to guard: logs untouched
