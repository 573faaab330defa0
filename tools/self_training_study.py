"""Self-training vs the same model without it, on the demo corpus, over several seeds.

    python tools/self_training_study.py --backend jax --seeds 0,1,2 --out runs/self_training_study

For every seed, trains the recipe twice, identically except for
`train.self_training.enabled`, and compares the target languages' test
accuracy (the report's target average). Writes `study.md` (the table in
docs/self_training.md) and `study.json` to `--out`, one run directory per
training, and prints the table.

`--set` overrides apply to both runs; `--st KEY=VALUE` to the self-training
run only (e.g. `--st train.self_training.k_per_class=50`). `--long-baseline`
adds a control: the baseline trained for as many epochs as self-training
can run (`train.epochs + max_rounds * epochs_per_round`).
"""

import argparse
import json
import os
import pathlib
import statistics
import sys
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["tensorflow", "jax", "torch"], default=None)
    parser.add_argument("--recipe", default="demo")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", default="runs/self_training_study")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--st", dest="st_overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--long-baseline", action="store_true")
    parser.add_argument("--verbose", type=int, default=0)
    return parser.parse_args(argv)


def _accuracies(run):
    rows = {r.language: r.metrics["accuracy"] for r in run.report.rows if r.role == "target"}
    rows["average"] = run.report.target_average()["accuracy"]
    return rows


def _mean_std(values):
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def main(argv=None):
    args = parse_args(argv)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    from keras_clx import experiment
    from keras_clx.recipes import load_recipe

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    base = load_recipe(args.recipe, [*args.overrides, *args.st_overrides])
    st = base.train.self_training
    variants = [
        ("baseline", ["train.self_training.enabled=false"]),
        ("self_training", ["train.self_training.enabled=true", *args.st_overrides]),
    ]
    if args.long_baseline:
        epochs = base.train.epochs + st.max_rounds * st.epochs_per_round
        variants.append((f"baseline_{epochs}ep", ["train.self_training.enabled=false", f"train.epochs={epochs}"]))
    results = []
    for seed in seeds:
        for variant, extra in variants:
            recipe = load_recipe(args.recipe, [*args.overrides, f"train.seed={seed}", *extra])
            started = time.time()
            run = experiment.fit(recipe, out / f"{variant}-seed{seed}", overwrite=True, verbose=args.verbose)
            item = {
                "seed": seed,
                "variant": variant,
                "accuracy": _accuracies(run),
                "seconds": round(time.time() - started, 1),
            }
            if run.self_training is not None:
                history = run.self_training
                item.update(
                    best_round=history.best_round,
                    rounds=len(history.rows),
                    stop_reason=history.stop_reason,
                    pseudo_accuracy=[r.pseudo_accuracy for r in history.rows[1:]],
                )
            results.append(item)
            print(
                f"seed {seed} {variant:13s} target avg {100 * item['accuracy']['average']:.2f} "
                f"({item['seconds']:.0f} s)",
                file=sys.stderr,
                flush=True,
            )

    recipe = load_recipe(args.recipe, args.overrides)
    languages = list(recipe.data.targets) + ["average"]
    lines = [
        f"Backend: {keras.backend.backend()}; recipe `{args.recipe}`"
        + (f" with {' '.join(args.overrides)}" if args.overrides else "")
        + (f"; self-training run: {' '.join(args.st_overrides)}" if args.st_overrides else "")
        + f"; seeds {args.seeds}. Target test accuracy in %.",
        "",
        "| seed | model | " + " | ".join(languages) + " | best round | pseudo-label acc. per round |",
        "|---|---|" + "---|" * len(languages) + "---|---|",
    ]
    for item in results:
        cells = [f"{100 * item['accuracy'][lang]:.2f}" for lang in languages]
        pseudo = "/".join(f"{100 * p:.0f}" for p in item.get("pseudo_accuracy", []) if p is not None) or "–"
        best = str(item["best_round"]) if "best_round" in item else "–"
        lines.append(f"| {item['seed']} | {item['variant']} | " + " | ".join(cells) + f" | {best} | {pseudo} |")
    summary = {}
    for variant, _ in variants:
        values = {lang: [r["accuracy"][lang] for r in results if r["variant"] == variant] for lang in languages}
        summary[variant] = {lang: _mean_std(v) for lang, v in values.items()}
        cells = [f"{100 * m:.2f} ± {100 * s:.2f}" for m, s in summary[variant].values()]
        lines.append(f"| mean ± sd | {variant} | " + " | ".join(cells) + " | | |")
    by = {(r["seed"], r["variant"]): r["accuracy"]["average"] for r in results}
    gains = [by[seed, "self_training"] - by[seed, "baseline"] for seed in seeds]
    lines += [
        "",
        "Self-training minus baseline, target average: "
        + ", ".join(f"seed {seed} {100 * g:+.2f}" for seed, g in zip(seeds, gains))
        + f"; mean {100 * statistics.mean(gains):+.2f} points.",
    ]
    table = "\n".join(lines)
    (out / "study.md").write_text(table + "\n")
    (out / "study.json").write_text(
        json.dumps(
            {
                "results": results,
                "summary": summary,
                "gains": gains,
                "backend": keras.backend.backend(),
                "args": vars(args),
            },
            indent=2,
        )
        + "\n"
    )
    print(table)


if __name__ == "__main__":
    main()
