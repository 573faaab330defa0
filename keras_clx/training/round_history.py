"""The per-round record of a self-training run: its Markdown table, CSV/JSON files and plot."""

import csv
import dataclasses
import json
import pathlib

from keras_clx import run_dir
from keras_clx.console import markdown_table


@dataclasses.dataclass
class RoundRecord:
    """One round: what was selected before it, how it trained, what it scored."""

    round: int
    epochs: int = 0
    train_examples: int = 0
    selected: int = 0  # pseudo-labels added before this round
    per_class: list = dataclasses.field(default_factory=list)
    shortfalls: list = dataclasses.field(default_factory=list)  # [group, class, available]
    pool: int = 0  # pool size after the selection
    monitor: float = None
    pseudo_accuracy: float = None  # of this round's pseudo-labels (where gold labels exist)
    pseudo_accuracy_total: float = None  # of all pseudo-labels so far
    seconds: float = None

    def never_predicted(self, label_names=None):
        """The classes this round selected no pseudo-label for: the model predicts none of the pool
        as them (none for round 0, which selects nothing)."""
        if not self.round:
            return []
        return [label_names[c] if label_names else str(c) for c, n in enumerate(self.per_class) if n == 0]

    def selection_messages(self, names, k_per_class, per_group=False):
        """`(log lines, warning or None)` describing this round's selection."""
        empty = self.per_class.count(0)
        per_class = ", ".join(f"{names[c]} {n}" for c, n in enumerate(self.per_class) if n)
        per_class += f"{'; ' if per_class else ''}{empty} class(es) none" if empty else ""
        accuracy = "" if self.pseudo_accuracy is None else f", pseudo-label accuracy {100 * self.pseudo_accuracy:.1f}%"
        lines = [
            f"self-training: selected {self.selected} for round {self.round} ({per_class}); "
            f"pool {self.pool:,}{accuracy}"
        ]
        if self.shortfalls:
            short = [
                f"{names[cls]}{f' ({group})' if per_group else ''} {available}"
                for group, cls, available in self.shortfalls
            ]
            more = f", ... ({len(short) - 8} more in rounds.json)" if len(short) > 8 else ""
            lines.append(
                f"self-training: fewer than k_per_class={k_per_class} candidates (all taken) for "
                f"{len(short)} class(es): {', '.join(short[:8])}{more}"
            )
        never = self.never_predicted(names)
        warning = None
        if never:
            warning = (
                f"self-training round {self.round}: no unlabelled text is predicted as {', '.join(never[:8])}, so "
                f"{'it gets' if len(never) == 1 else 'they get'} no pseudo-labels and the rounds reinforce the other "
                "classes; check those classes' source accuracy (train longer, or lower train.learning_rate or "
                "train.epsilon) or set train.self_training.max_rounds lower"
            )
        return lines, warning


def _percent(value):
    return "–" if value is None else f"{100 * value:.2f}"


@dataclasses.dataclass
class RoundHistory:
    """Every round of a self-training run; `format_table` is Markdown."""

    monitor: str
    mode: str = "max"
    monitor_description: str = ""
    rows: list = dataclasses.field(default_factory=list)
    best_round: int = None
    stop_reason: str = None

    def row(self, round_):
        """The record of `round_` (created if missing)."""
        for row in self.rows:
            if row.round == round_:
                return row
        self.rows.append(RoundRecord(round=round_))
        self.rows.sort(key=lambda r: r.round)
        return self.row(round_)

    def _monitor_text(self, value):
        if value is None:
            return "–"
        return _percent(value) if self.mode == "max" and 0.0 <= value <= 1.0 else f"{value:.4f}"

    def format_table(self, label_names=None):
        """A Markdown table: one row per round; the best round is marked `*`."""
        num_classes = max((len(r.per_class) for r in self.rows), default=0)
        names = "/".join(label_names or [str(c) for c in range(num_classes)])
        per_class_header = f"per class ({names})" if len(names) <= 48 else "per class (label order)"
        header = [
            "round",
            "epochs",
            "train examples",
            "selected",
            per_class_header,
            "pool",
            self.monitor,
            "pseudo acc (round)",
            "pseudo acc (all)",
        ]
        lines = [header]
        for r in self.rows:
            mark = " *" if r.round == self.best_round else ""
            per_class = "/".join(str(n) for n in r.per_class) if r.per_class else "–"
            short = " (short)" if r.shortfalls else ""
            never = r.never_predicted(label_names)
            short += f" (none: {', '.join(never)})" if never else ""
            lines.append(
                [
                    f"{r.round}{mark}",
                    str(r.epochs),
                    f"{r.train_examples:,}",
                    f"{r.selected:,}" if r.round else "–",
                    per_class + short,
                    f"{r.pool:,}",
                    self._monitor_text(r.monitor),
                    _percent(r.pseudo_accuracy),
                    _percent(r.pseudo_accuracy_total),
                ]
            )
        return markdown_table(header, lines[1:])

    def summary(self):
        """One paragraph: what was monitored, the best round, why rounds stopped."""
        what = f" on {self.monitor_description}" if self.monitor_description else ""
        best = "" if self.best_round is None else f"; best round {self.best_round} (weights restored)"
        stop = f"; stopped: {self.stop_reason}" if self.stop_reason else ""
        return f"Monitor: `{self.monitor}`{what}{best}{stop}. `*` marks the best round; percentages in %."

    def to_dict(self):
        return {
            "monitor": self.monitor,
            "mode": self.mode,
            "monitor_description": self.monitor_description,
            "best_round": self.best_round,
            "stop_reason": self.stop_reason,
            "rounds": [dataclasses.asdict(r) for r in self.rows],
        }

    @classmethod
    def from_dict(cls, data):
        history = cls(data["monitor"], data["mode"], data.get("monitor_description", ""))
        history.rows = [RoundRecord(**r) for r in data["rounds"]]
        history.best_round = data.get("best_round")
        history.stop_reason = data.get("stop_reason")
        return history

    def to_markdown(self, label_names=None):
        return f"## Self-training rounds\n\n{self.summary()}\n\n{self.format_table(label_names)}\n"

    def write(self, directory, label_names=None, stem=run_dir.ROUNDS):
        """Writes `<stem>.md`, `.csv`, `.json` and the plot `<stem>.png` into `directory`."""
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{stem}.md").write_text(self.to_markdown(label_names))
        (directory / f"{stem}.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        fields = [f.name for f in dataclasses.fields(RoundRecord)]
        with open(directory / f"{stem}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(fields + ["best"])
            for r in self.rows:
                values = dataclasses.asdict(r)
                writer.writerow(
                    [json.dumps(values[k]) if isinstance(values[k], list) else values[k] for k in fields]
                    + [r.round == self.best_round]
                )
        self.plot(directory / f"{stem}.png")

    def plot(self, path):
        """Monitored metric and pseudo-label accuracy (left), selections and pool size (right)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        rounds = [r.round for r in self.rows]
        figure = Figure(figsize=(10, 3.8), dpi=100)
        FigureCanvasAgg(figure)
        left, right = figure.subplots(1, 2)
        scores = [(r.round, r.monitor) for r in self.rows if r.monitor is not None]
        if scores:
            left.plot(*zip(*scores), marker="o", label=f"{self.monitor}")
        accuracy = [(r.round, r.pseudo_accuracy) for r in self.rows if r.pseudo_accuracy is not None]
        if accuracy:
            left.plot(*zip(*accuracy), marker="s", linestyle="--", label="pseudo-label accuracy (round)")
        if self.best_round is not None:
            left.axvline(self.best_round, color="grey", linestyle=":", label="best round")
        left.set_xlabel("round")
        left.set_title(self.monitor_description or self.monitor, fontsize=9)
        left.legend(fontsize=8)
        right.bar(rounds, [r.selected for r in self.rows], color="tab:green", label="selected")
        right.set_xlabel("round")
        right.set_ylabel("pseudo-labels selected")
        pool_axis = right.twinx()
        pool_axis.plot(rounds, [r.pool for r in self.rows], color="tab:purple", marker="o", label="pool")
        pool_axis.set_ylabel("unlabelled pool")
        right.set_title("selection per round and remaining pool", fontsize=9)
        for axis in (left, right):
            axis.set_xticks(rounds)
        figure.tight_layout()
        figure.savefig(path)
