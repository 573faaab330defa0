"""Are two runs' per-language tables identical? (a behaviour check across commits or settings)

    python tools/compare_demo_tables.py RUN_A RUN_B

Reads `report.json` of each run directory (the format is the same since the first release, so
a run written by an old commit compares with a current one), prints both per-language tables
(scores in %, as report.md shows them) and whether they are identical: as printed (2 decimals)
and to the last bit. Exit code 0 when the printed tables are identical, 1 otherwise.
"""

import argparse
import json
import pathlib
import sys


def table(run):
    """`{row: {metric: score}}` of a run directory: one row per language, then `target avg`."""
    report = json.loads((pathlib.Path(run) / "report.json").read_text())
    rows = {(r["language"], r["split"], r["examples"]): r["metrics"] for r in report["languages"]}
    if report.get("target_average"):
        rows[("target avg", "", "")] = report["target_average"]
    return rows


def printed(rows):
    return {key: {m: f"{100 * v:.2f}" for m, v in metrics.items()} for key, metrics in rows.items()}


def show(name, rows):
    metrics = list(next(iter(rows.values())))
    print(f"{name}\n| language | split | n | {' | '.join(metrics)} |\n|---|---|---|{'---|' * len(metrics)}")
    for (language, split, n), scores in printed(rows).items():
        print(f"| {language} | {split} | {n} | {' | '.join(scores[m] for m in metrics)} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs=2, help="two run directories")
    args = parser.parse_args()
    a, b = (table(run) for run in args.runs)
    for run, rows in zip(args.runs, (a, b)):
        show(run, rows)
        print()
    same_printed, same_bits = printed(a) == printed(b), a == b
    for key in sorted(set(a) | set(b), key=str):
        if printed(a).get(key) != printed(b).get(key):
            print(f"differs: {key[0]}: {printed(a).get(key)} vs {printed(b).get(key)}")
    print(f"tables identical: {'yes' if same_printed else 'no'}; to the last bit: {'yes' if same_bits else 'no'}")
    return 0 if same_printed else 1


if __name__ == "__main__":
    sys.exit(main())
