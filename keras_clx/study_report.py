"""The aggregation of a study: per-language tables over seeds, paired differences, one plot.

Reads `<study>/plan.json` and each finished cell (its `report.json` and
`outcomes.npz`; a leave-one-out cell's per-target sub-runs) and writes
`study.md`, `study.csv`, `study.json` and `study.png`. No training, no Keras.
"""

import csv
import json
import pathlib

import numpy as np

from keras_clx.console import markdown_table
from keras_clx.errors import ClxError
from keras_clx.evaluation import study_stats
from keras_clx.evaluation.report import outcomes_file, read_outcomes
from keras_clx.run_dir import MANIFEST, METRICS
from keras_clx.study_plan import load_plan

AVERAGE = "target avg"


def read_cell(path):
    """A finished cell: `{"metric_names", "rows": {language: {"role", "metrics", "outcomes"}}, "seconds"}`,
    else None.

    `outcomes` is None where the run stored none (runs from before outcomes were recorded);
    `seconds` is the run's wall time (`metrics.json`'s `total_seconds`), None where it has none.
    """
    path = pathlib.Path(path)
    if not (path / "report.json").is_file():
        return None
    try:
        report = json.loads((path / "report.json").read_text())
        if (path / MANIFEST).is_file():  # leave-one-out: each target's outcomes live in its sub-run
            manifest = json.loads((path / MANIFEST).read_text())
            files = {t: path / entry["directory"] / outcomes_file() for t, entry in manifest.items()}
        else:
            files = {row["language"]: path / outcomes_file() for row in report["languages"]}
        rows = {row["language"]: {"role": row["role"], "metrics": row["metrics"]} for row in report["languages"]}
        metric_names = report["metrics"]
    except (ValueError, TypeError, KeyError) as error:  # not JSON, or not a report's fields
        raise ClxError(
            f"{path / 'report.json'}: not a report written by keras-clx ({type(error).__name__}: {error}); "
            "delete the cell's directory to run it again"
        ) from None
    cache = {f: read_outcomes(f) for f in set(files.values()) if f.is_file()}
    for language, row in rows.items():
        row["outcomes"] = cache.get(files.get(language), {}).get(language)
    return {"metric_names": metric_names, "rows": rows, "seconds": _wall_seconds(path)}


def _wall_seconds(path):
    metrics = path / METRICS
    try:
        return json.loads(metrics.read_text()).get("total_seconds") if metrics.is_file() else None
    except ValueError:  # a broken metrics.json does not stop the aggregation
        return None


def _seconds(plan, cells):
    """`{variant: {"mean", "min", "max", "seeds": {seed: seconds}}}` over the cells that recorded one."""
    out = {}
    for variant in plan.variants:
        seeds = {s: cells[(variant.label, s)]["seconds"] for s in plan.seeds if (variant.label, s) in cells}
        seeds = {s: v for s, v in seeds.items() if v is not None}
        values = list(seeds.values())
        out[variant.label] = {
            "mean": float(np.mean(values)) if values else None,
            "min": min(values, default=None),
            "max": max(values, default=None),
            "seeds": seeds,
        }
    return out


def _scores(plan, cells, languages, targets, metric):
    """`{language: {variant: {"mean", "std", "seeds": {seed: value}}}}` for one metric."""
    out = {}
    for language in [*languages, AVERAGE]:
        out[language] = {}
        for variant in plan.variants:
            values = {}
            for seed in plan.seeds:
                cell = cells.get((variant.label, seed))
                if cell is None:
                    continue
                rows = cell["rows"]
                if language == AVERAGE:
                    if targets and all(t in rows for t in targets):
                        values[seed] = float(np.mean([rows[t]["metrics"][metric] for t in targets]))
                elif language in rows:
                    values[seed] = float(rows[language]["metrics"][metric])
            mean, std = study_stats.mean_std(list(values.values()))
            out[language][variant.label] = {"mean": mean, "std": std, "seeds": values}
    return out


def _pairs(plan, cells, variant, languages):
    """`({language: [(variant, baseline) outcomes per paired seed]}, {language: why not})`."""
    baseline = plan.variants[0].label
    seeds = [s for s in plan.seeds if cells.get((variant, s)) and cells.get((baseline, s))]
    pairs, skipped = {}, {}
    for language in languages:
        tables = []
        for seed in seeds:
            a = cells[(variant, seed)]["rows"].get(language, {}).get("outcomes")
            b = cells[(baseline, seed)]["rows"].get(language, {}).get("outcomes")
            if a is None or b is None:
                skipped[language] = "per-example outcomes missing"
                break
            if len(a["ids"]) != len(b["ids"]) or (a["ids"] != b["ids"]).any():
                skipped[language] = f"seed {seed}: variant and baseline were scored on different examples"
                break
            tables.append((a, b))
        else:
            if tables:
                pairs[language] = tables
    return pairs, skipped


def _differences(plan, cells, languages, targets, metric_names, samples):
    """Per non-baseline variant and language: paired bootstrap per metric and the sign test."""
    out = {}
    for variant in plan.variants[1:]:
        pairs, skipped = _pairs(plan, cells, variant.label, languages)
        rows = {lang: {"seeds": len(p), **study_stats.paired_sign_test(p)} for lang, p in pairs.items()}
        pooled = [pair for t in targets if t in pairs for pair in pairs[t]]
        if pooled and all(t in pairs for t in targets):
            rows[AVERAGE] = {"seeds": len(pairs[targets[0]]), **study_stats.paired_sign_test(pooled)}
        for metric in metric_names:
            if not pairs:
                break
            boot = study_stats.paired_bootstrap(
                pairs, metric, average=targets if AVERAGE in rows else (), samples=samples
            )
            for language, interval in boot.items():
                rows[language][metric] = interval
        out[variant.label] = {"languages": rows, "skipped": skipped}
    return out


def study_report(directory, samples=1000):
    """Aggregates the finished cells of the study in `directory`; writes study.md/.csv/.json/.png.

    Returns the summary written to `study.json`.
    """
    directory = pathlib.Path(directory)
    plan = load_plan(directory)
    grid = plan.cells(directory)
    cells = {(v.label, s): read_cell(path) for v, s, path in grid}
    cells = {key: cell for key, cell in cells.items() if cell is not None}
    if not cells:
        raise ClxError(f"{directory}: no finished cell yet (0 of {len(grid)})")
    metric_names = next(iter(cells.values()))["metric_names"]
    roles = {}
    for cell in cells.values():
        for language, row in cell["rows"].items():
            roles.setdefault(language, row["role"])
    # challenge rows: the code-switched test sets of `eval.code_switched`
    languages = [lang for role in ("source", "target", "challenge") for lang, r in roles.items() if r == role]
    targets = [lang for lang in languages if roles[lang] == "target"]
    primary = plan.primary_metric if plan.primary_metric in metric_names else metric_names[0]
    summary = {
        "title": plan.description,
        "recipe": plan.recipe,
        "overrides": plan.overrides,
        "primary_metric": primary,
        "metrics": [primary, *(m for m in metric_names if m != primary)],
        "baseline": plan.variants[0].label,
        "variants": [v.label for v in plan.variants],
        "seeds": plan.seeds,
        "cells": {
            "finished": len(cells),
            "total": len(grid),
            "missing": [str(p.relative_to(directory)) for v, s, p in grid if (v.label, s) not in cells],
        },
        "languages": [{"language": lang, "role": roles[lang]} for lang in languages],
        "bootstrap_samples": samples,
        "scores": {m: _scores(plan, cells, languages, targets, m) for m in metric_names},
        "differences": _differences(plan, cells, languages, targets, metric_names, samples),
        "seconds": _seconds(plan, cells),
    }
    (directory / "study.json").write_text(json.dumps(summary, indent=2) + "\n")
    _write_csv(summary, directory / "study.csv")
    (directory / "study.md").write_text(format_markdown(summary))
    plot(summary, directory / "study.png")
    return summary


# === Output ===


def _percent(value, sign=False):
    return "-" if value is None else f"{100 * value:{'+' if sign else ''}.2f}"


def _score_cell(entry):
    if entry["mean"] is None:
        return "-"
    std = f" ± {_percent(entry['std'])}" if entry["std"] is not None else ""
    return f"{_percent(entry['mean'])}{std} (n={len(entry['seeds'])})"


def row_order(summary):
    """The table rows: sources, targets, the target average, then challenge sets."""
    roles = {entry["language"]: entry["role"] for entry in summary["languages"]}
    main = [lang for lang, role in roles.items() if role != "challenge"]
    return [*main, AVERAGE, *(lang for lang in roles if lang not in main)]


def format_markdown(summary):
    """study.md: one table per metric (mean ± std over seeds), then the paired differences."""
    roles = {entry["language"]: entry["role"] for entry in summary["languages"]}
    languages = row_order(summary)
    cells = summary["cells"]
    seeds = ", ".join(map(str, summary["seeds"]))
    intro = (
        f"{cells['finished']} of {cells['total']} cells finished; seeds {seeds}; baseline: "
        f"{summary['baseline']}. Scores in %, mean ± sample std over seeds (n = seeds)."
    )
    out = [f"# Study: {summary['title'] or summary['recipe']}", "", intro, ""]
    for metric in summary["metrics"]:
        title = f"## {metric}" + (" (primary)" if metric == summary["primary_metric"] else "")
        rows = [
            [lang, roles.get(lang, ""), *(_score_cell(summary["scores"][metric][lang][v]) for v in summary["variants"])]
            for lang in languages
        ]
        out += [title, "", markdown_table(["language", "role", *summary["variants"]], rows), ""]
    metric = summary["primary_metric"]
    if summary["differences"]:
        out += [f"## Paired difference to the baseline ({metric}, points)", ""]
        rows = []
        for lang in languages:
            row = [lang]
            for entry in summary["differences"].values():
                d = entry["languages"].get(lang)
                if d is None or metric not in d:
                    row.append(entry["skipped"].get(lang, "-"))
                    continue
                interval = d[metric]
                row.append(
                    f"{_percent(interval['difference'], True)} [{_percent(interval['low'], True)}, "
                    f"{_percent(interval['high'], True)}]"
                    + ("" if d["p_value"] is None else f", p={d['p_value']:.3g} ({d['wins']}+/{d['losses']}-)")
                )
            rows.append(row)
        note = (
            "Difference: mean over seeds of variant - baseline; [low, high]: 95% paired bootstrap interval "
            f"({summary['bootstrap_samples']} samples; seeds drawn with replacement, then each language's "
            "examples, the same draw for variant and baseline). p: two-sided sign test over seeds x "
            "examples (+/-: examples with fewer/more errors than the baseline, ties dropped; none for entity F1, "
            "which does not split into per-example terms)."
        )
        out += [markdown_table(["language", *summary["differences"]], rows), "", note, ""]
    out += _wall_time_section(summary.get("seconds", {}))
    return "\n".join(out)


def _wall_time_section(seconds):
    """Wall time per run of each variant (data loading, any pretraining, training, evaluation)."""
    rows = [
        [variant, f"{entry['mean']:,.0f}", f"{entry['min']:,.0f}-{entry['max']:,.0f}", str(len(entry["seeds"]))]
        for variant, entry in seconds.items()
        if entry["mean"] is not None
    ]
    if not rows:
        return []
    note = "Seconds per run (metrics.json total_seconds; a resumed run counts from its resume)."
    return ["## Wall time", "", markdown_table(["variant", "mean s", "range s", "runs"], rows), "", note, ""]


def _write_csv(summary, path):
    roles = {entry["language"]: entry["role"] for entry in summary["languages"]}
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "kind",
                "metric",
                "language",
                "role",
                "variant",
                "seeds",
                "mean",
                "std",
                "difference",
                "low",
                "high",
                "wins",
                "losses",
                "ties",
                "p_value",
            ]
        )
        for metric, by_language in summary["scores"].items():
            for lang, by_variant in by_language.items():
                for variant, e in by_variant.items():
                    writer.writerow(
                        [
                            "score",
                            metric,
                            lang,
                            roles.get(lang, ""),
                            variant,
                            len(e["seeds"]),
                            e["mean"],
                            e["std"],
                            "",
                            "",
                            "",
                            "",
                            "",
                            "",
                            "",
                        ]
                    )
        for variant, entry in summary["differences"].items():
            for lang, d in entry["languages"].items():
                for metric in summary["metrics"]:
                    if metric in d:
                        m = d[metric]
                        writer.writerow(
                            [
                                "difference",
                                metric,
                                lang,
                                roles.get(lang, ""),
                                variant,
                                d["seeds"],
                                "",
                                "",
                                m["difference"],
                                m["low"],
                                m["high"],
                                d["wins"],
                                d["losses"],
                                d["ties"],
                                d["p_value"],
                            ]
                        )


def plot(summary, path):
    """study.png: the primary metric per language, one marker per variant with the seeds' std as
    error bars (markers, not bars from 0, so that differences of a point stay visible)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    metric = summary["primary_metric"]
    languages = row_order(summary)
    variants = summary["variants"]
    figure = Figure(figsize=(min(14, max(6, 0.9 * len(languages) + 3)), 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    width = 0.7 / len(variants)
    x = np.arange(len(languages))
    for i, variant in enumerate(variants):
        entries = [summary["scores"][metric][lang][variant] for lang in languages]
        means = [100 * e["mean"] if e["mean"] is not None else np.nan for e in entries]
        stds = [100 * (e["std"] or 0.0) for e in entries]
        offset = x + (i - (len(variants) - 1) / 2) * width
        axis.errorbar(offset, means, yerr=stds, fmt="o", markersize=4, capsize=2, label=variant)
    axis.set_xticks(x, languages, rotation=30 if len(languages) > 6 else 0)
    axis.grid(axis="y", alpha=0.3)
    axis.set_ylabel(f"{metric} (%)")
    axis.set_title(f"{summary['title'] or summary['recipe']}: mean ± std over seeds", fontsize=9)
    axis.legend(fontsize=7, ncol=min(4, len(variants)))
    figure.tight_layout()
    figure.savefig(path)
