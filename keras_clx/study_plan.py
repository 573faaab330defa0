"""A study's plan: the variants (the first is the baseline) x seeds of one recipe,
stored as `<study>/plan.json` (`keras_clx.study` runs it, `keras_clx.study_report`
aggregates it)."""

import dataclasses
import json
import pathlib

from keras_clx.errors import ClxError
from keras_clx.recipes import load_recipe

PLAN_FILE = "plan.json"


@dataclasses.dataclass
class Variant:
    """One column of a study: its overrides, a label and a directory name."""

    label: str
    directory: str
    overrides: list


@dataclasses.dataclass
class StudyPlan:
    """The grid of a study: variants (the first is the baseline) x seeds."""

    recipe: str
    overrides: list
    seeds: list
    vary: list  # [[key, [values]]]
    variants: list  # [Variant]
    task: str = "sequence"
    primary_metric: str = "accuracy"  # the task's
    description: str = ""

    def cells(self, directory):
        """`[(variant, seed, run_dir)]` in the order they run: seed-major, so that a study
        stopped early compares every variant on its first seeds."""
        directory = pathlib.Path(directory)
        return [(v, s, directory / v.directory / f"seed{s}") for s in self.seeds for v in self.variants]

    def cell_recipe(self, variant, seed):
        return load_recipe(self.recipe, [*self.overrides, *variant.overrides, f"train.seed={seed}"])

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        return cls(**{**data, "variants": [Variant(**v) for v in data["variants"]]})


def load_plan(directory):
    """The `StudyPlan` of a study directory."""
    path = pathlib.Path(directory) / PLAN_FILE
    if not path.is_file():
        raise ClxError(f"{directory} holds no study ({PLAN_FILE} is missing)")
    try:
        return StudyPlan.from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError, KeyError) as error:  # not JSON, or not a plan's fields
        raise ClxError(f"{path}: not a study plan written by keras-clx ({type(error).__name__}: {error})") from None
