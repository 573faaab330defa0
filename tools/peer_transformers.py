"""The peer of `tools/bench.py`: the adversarial step as PyTorch + Hugging Face users write it.

`BertForSequenceClassification` (the bench size's architecture, random initialisation,
transformers' default attention) trained with the widely copied FGM loop: clean
forward and `backward()`, then ε·g/‖g‖₂ added to the word-embedding table (g its
gradient, one norm for the batch), the perturbed forward and `backward()` (gradients
accumulate), the table restored, one AdamW step. Needs the `bench` extra
(`pip install -e .[bench,torch]`).
"""

import time


def build(shape, length, num_classes=4, seed=0):
    """`(model, optimizer)` for a bench model shape (see `tools/bench.py`)."""
    import torch
    import transformers

    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=shape["vocabulary"],
        hidden_size=shape["hidden_dim"],
        num_hidden_layers=shape["num_layers"],
        num_attention_heads=shape["num_heads"],
        intermediate_size=shape["intermediate_dim"],
        max_position_embeddings=max(512, length),
        num_labels=num_classes,
    )
    model = transformers.BertForSequenceClassification(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    return model, optimizer


def as_torch(x, y):
    import torch

    inputs = {
        "input_ids": torch.as_tensor(x["token_ids"], dtype=torch.long),
        "token_type_ids": torch.as_tensor(x["segment_ids"], dtype=torch.long),
        "attention_mask": torch.as_tensor(x["padding_mask"], dtype=torch.long),
    }
    return inputs, torch.as_tensor(y, dtype=torch.long)


class FGM:
    """Fast gradient method on the word-embedding table (the common snippet)."""

    def __init__(self, model, epsilon=1.0, name="word_embeddings"):
        self.parameters = [(n, p) for n, p in model.named_parameters() if p.requires_grad and name in n]
        self.epsilon = epsilon
        self.backup = {}

    def attack(self):
        import torch

        for name, parameter in self.parameters:
            self.backup[name] = parameter.data.clone()
            norm = torch.norm(parameter.grad)
            if norm != 0 and not torch.isnan(norm):
                parameter.data.add_(self.epsilon * parameter.grad / norm)

    def restore(self):
        for name, parameter in self.parameters:
            parameter.data = self.backup.pop(name)


def plain_step(model, optimizer, inputs, labels):
    loss = model(**inputs, labels=labels).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


def fgm_step(model, optimizer, fgm, inputs, labels):
    loss = model(**inputs, labels=labels).loss
    loss.backward()
    fgm.attack()
    model(**inputs, labels=labels).loss.backward()
    fgm.restore()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


def runners(shape, length, x, y, epsilon=1.0, warmup=2):
    """`{"plain": run, "fgm": run}`, warmed up; `run(steps)` returns seconds per step."""
    model, optimizer = build(shape, length)
    fgm = FGM(model, epsilon)
    inputs, labels = as_torch(x, y)
    steps = {
        "plain": lambda: plain_step(model, optimizer, inputs, labels),
        "fgm": lambda: fgm_step(model, optimizer, fgm, inputs, labels),
    }
    for step in steps.values():
        for _ in range(warmup):
            step()

    def timed(step):
        def run(count):
            started = time.perf_counter()
            for _ in range(count):
                step()
            return (time.perf_counter() - started) / count

        return run

    return {name: timed(step) for name, step in steps.items()}
