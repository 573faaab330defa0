"""`TransferGuard`: a Keras callback that flags a perturbation that overwhelms training.

An embedding perturbation too large for the backbone's embeddings (an absolute
ε = 1.0 on a small encoder trained from scratch) leaves the perturbed loss far
above the clean one, or keeps the training accuracy at chance: the source language
then loses what the targets were meant to gain. After each epoch the guard reads
the epoch's logs and, the first time either symptom shows, prints one line

    [keras-clx] warning: ... lower train.epsilon ...

on stderr. It adds `perturbation_warning` (0 or 1 since the first warning) to the
logs, so the training log and history record it, and reports the perturbation's
size relative to the embeddings (`perturbation_ratio`) after the first epoch.
"""

import math
import sys

import keras

from keras_clx.console import PREFIX
from keras_clx.training.steps import DEFAULT_EPSILON


class TransferGuard(keras.callbacks.Callback):
    """Warns once when the transfer step's perturbation looks too large.

    Args:
        loss_ratio: warn when the epoch's `adv_loss / clean_loss` exceeds it while the
            perturbed loss is still at least `chance_loss` x the loss of a uniform guess,
            log(classes): the perturbation erases the input (adversarial and random
            perturbations; VAT's KL is not comparable). A small clean loss that the
            perturbation doubles late in training is adversarial training working.
        chance_loss: that fraction of log(classes).
        chance_margin: warn when the training accuracy stays below chance (1 / number
            of classes) plus this margin for `chance_epochs` epochs after the first.
        chance_epochs: how many consecutive epochs (after the first) at chance make a
            symptom (2: a slow start that recovers in the third epoch is not one).
        verbose: 1 prints the perturbation size after the first epoch; warnings print always.
        stream: where the lines go (default `sys.stderr`).
    """

    def __init__(self, loss_ratio=2.0, chance_loss=0.8, chance_margin=0.05, chance_epochs=2, verbose=1, stream=None):
        super().__init__()
        self.loss_ratio = loss_ratio
        self.chance_loss = chance_loss
        self.chance_margin = chance_margin
        self.chance_epochs = chance_epochs
        self._at_chance = 0  # consecutive epochs (after the first) near chance
        self.verbose = verbose
        self.stream = stream
        self.warning = None  # the warning's text, once given

    def _print(self, text):
        print(f"{PREFIX} {text}", file=self.stream or sys.stderr, flush=True)

    def _config(self):
        transfer = getattr(self.model, "transfer", None)
        if transfer is None or transfer.config.perturbation == "none":
            return None
        return transfer.config

    def symptom(self, epoch, logs, config):
        """The symptom the epoch's `logs` show, as text, or `None`."""
        clean, perturbed = logs.get("clean_loss"), logs.get("adv_loss")
        classes = getattr(self.model, "num_classes", None)
        floor = self.chance_loss * math.log(classes) if classes and classes > 1 else 0.0
        if config.perturbation != "virtual" and clean is not None and perturbed is not None:
            if perturbed > self.loss_ratio * max(clean, 1e-8) and perturbed >= floor:
                return f"the perturbed loss is {perturbed / max(clean, 1e-8):.1f}x the clean loss in epoch {epoch + 1}"
        accuracy = logs.get("accuracy")
        near = epoch >= 1 and classes and accuracy is not None and accuracy < 1 / classes + self.chance_margin
        self._at_chance = self._at_chance + 1 if near else 0
        if self._at_chance >= self.chance_epochs:
            return f"training accuracy {accuracy:.3f} is still near chance ({1 / classes:.3f}) after epoch {epoch + 1}"
        return None

    def on_epoch_end(self, epoch, logs=None):
        config = self._config()
        if config is None or logs is None:
            return
        ratio = logs.get("perturbation_ratio")
        if epoch == 0 and self.verbose and ratio is not None:
            self._print(
                f"perturbation: ‖r‖/‖e‖ = {ratio:.3f} (‖r‖ = {logs.get('perturbation_norm', math.nan):.3g}, "
                f"ε = {config.epsilon:g} {config.epsilon_mode})"
            )
        if self.warning is None:
            symptom = self.symptom(epoch, logs, config)
            if symptom is not None:
                size = f", ‖r‖/‖e‖ = {ratio:.2f}" if ratio is not None else ""
                hint = (
                    f"train.epsilon_mode=relative with train.epsilon={DEFAULT_EPSILON:g}"
                    if config.epsilon_mode == "absolute"
                    else f"e.g. train.epsilon={config.epsilon / 2:g}"
                )
                self.warning = (
                    f"{symptom} with the {config.perturbation} perturbation (ε = {config.epsilon:g} "
                    f"{config.epsilon_mode}{size}): lower train.epsilon ({hint})"
                )
                self._print(f"warning: {self.warning}")
        logs["perturbation_warning"] = float(self.warning is not None)
