"""The per-language report: one row per language, the target average (XTREME style).

`Report.write` also stores each row's per-example outcomes (when it has them) in
`outcomes.npz`: arrays `<language>/<field>` (see `TaskKind.score_outcomes`), what
a study's paired bootstrap and sign test resample (`keras_clx.evaluation.study_stats`).
"""

import csv
import dataclasses
import json
import pathlib

from keras_clx.console import markdown_table


@dataclasses.dataclass
class LanguageResult:
    language: str
    role: str  # source | target
    split: str
    examples: int
    metrics: dict
    outcomes: dict = dataclasses.field(default=None, repr=False, compare=False)  # per-example arrays


@dataclasses.dataclass
class Report:
    """Results of one evaluation; `metric_names` gives the column order."""

    rows: list
    metric_names: list
    title: str = ""

    def target_average(self):
        targets = [r for r in self.rows if r.role == "target"]
        if not targets:
            return {}
        return {m: sum(r.metrics[m] for r in targets) / len(targets) for m in self.metric_names}

    def to_dict(self):
        return {
            "title": self.title,
            "metrics": self.metric_names,
            "languages": [
                {f.name: getattr(r, f.name) for f in dataclasses.fields(r) if f.name != "outcomes"} for r in self.rows
            ],
            "target_average": self.target_average(),
        }

    def format_table(self):
        """A fixed-width text table (also valid Markdown)."""
        header = ["language", "role", "split", "n", *self.metric_names]
        lines = [header]
        for r in self.rows:
            lines.append(
                [r.language, r.role, r.split, str(r.examples)]
                + [f"{100 * r.metrics[m]:.2f}" for m in self.metric_names]
            )
        average = self.target_average()
        if average:
            n = sum(r.examples for r in self.rows if r.role == "target")
            lines.append(["target avg", "", "", str(n)] + [f"{100 * average[m]:.2f}" for m in self.metric_names])
        return markdown_table(header, lines[1:])

    def write(self, directory, stem="report"):
        """Writes `<stem>.md`, `<stem>.csv`, `<stem>.json` (and the outcomes file) into `directory`."""
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self.rows and all(r.outcomes is not None for r in self.rows):  # before <stem>.json, which marks a run done
            import numpy as np

            arrays = {f"{r.language}/{k}": np.asarray(v) for r in self.rows for k, v in r.outcomes.items()}
            np.savez_compressed(directory / outcomes_file(stem), **arrays)
        title = f"# {self.title}\n\n" if self.title else ""
        (directory / f"{stem}.md").write_text(f"{title}Scores in %.\n\n{self.format_table()}\n")
        with open(directory / f"{stem}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["language", "role", "split", "examples", *self.metric_names])
            for r in self.rows:
                writer.writerow(
                    [r.language, r.role, r.split, r.examples, *(f"{r.metrics[m]:.6f}" for m in self.metric_names)]
                )
        (directory / f"{stem}.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n")


def outcomes_file(stem="report"):
    """The outcomes file written beside `<stem>.json`: `outcomes.npz`, `outcomes-test.npz`, ..."""
    return stem.replace("report", "outcomes", 1) + ".npz"


def read_outcomes(path):
    """`{language: {field: array}}` from an outcomes file."""
    import numpy as np

    out = {}
    with np.load(path) as data:
        for key in data.files:
            language, field = key.rsplit("/", 1)
            out.setdefault(language, {})[field] = data[key]
    return out
