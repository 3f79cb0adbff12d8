"""Compare runs side by side: the local counterpart of a W&B dashboard.

    python scripts/compare_runs.py logs/7.4_momentum/<version> logs/7.8_adam/<version> ... \
        [--metrics val/loss] [--out compare.png]

Overlays the curves of every run (from its metrics.csv, against epochs; chapter 7 runs are
validated every 100 examples, so their curves have points inside epochs) in one PNG, and prints
two Markdown tables: the final value of each metric per run, and the hyperparameters that differ
between the runs' config.yaml files.
"""

import argparse
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package

from d2l_lightning.plots import curve_table  # noqa: E402

# keys that differ between any two runs and say nothing about the experiment
_IGNORED = ("trainer.logger", "run_name", "run_version", "trainer.default_root_dir", "data.init_args.data_dir",
            "trainer.callbacks", "trainer.enable_progress_bar", "trainer.enable_model_summary")


def flatten(d, prefix: str = "") -> dict[str, object]:
    out = {}
    for key, value in (d or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def label(run_dir: Path, all_dirs: list[Path]) -> str:
    names = [d.parent.name for d in all_dirs]
    return run_dir.parent.name if names.count(run_dir.parent.name) == 1 else \
        f"{run_dir.parent.name}/{run_dir.name}"


def differing_hparams(run_dirs: list[Path]) -> dict[str, list[object]]:
    configs = []
    for d in run_dirs:
        path = d / "config.yaml"
        configs.append(flatten(yaml.safe_load(path.read_text())) if path.is_file() else {})
    keys = sorted(set().union(*configs))
    out = {}
    for key in keys:
        if key.startswith(_IGNORED):
            continue
        values = [c.get(key, "-") for c in configs]
        if len({repr(v) for v in values}) > 1:
            out[key] = values
    return out


def compare(run_dirs: list[Path], metrics: list[str] | None, out_png: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    missing = [str(d) for d in run_dirs if not (d / "metrics.csv").is_file()]
    if missing:
        raise SystemExit(f"error: no metrics.csv in {', '.join(missing)}; pass run directories "
                         "(the folders printed as 'run directory: ...')")
    tables = {d: curve_table(d / "metrics.csv") for d in run_dirs}
    columns = sorted(set().union(*(t.columns for t in tables.values())))
    if metrics:
        columns = [c for c in columns if c in metrics]
    else:  # validation curves if there are any, else training ones
        val = [c for c in columns if c.startswith("val/")]
        columns = val or [c for c in columns if c.startswith("train/")]
    if not columns:
        raise SystemExit(f"error: none of {metrics} was logged by these runs")
    fig, axes = plt.subplots(1, len(columns), figsize=(5.0 * len(columns), 3.6), squeeze=False)
    for ax, col in zip(axes[0], columns):
        if len(tables) > 10:  # the default cycle repeats after 10 colours
            ax.set_prop_cycle(color=plt.cm.tab20.colors)
        for d, table in tables.items():
            if col in table:
                series = table[col].dropna()
                ax.plot(series.index, series.values, label=label(d, run_dirs))
        ax.set_xlabel("epoch")
        ax.set_ylabel(col)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)

    lines = ["| run | " + " | ".join(columns) + " |", "| --- |" + " --- |" * len(columns)]
    for d, table in tables.items():
        finals = [table[c].dropna().iloc[-1] if c in table and table[c].notna().any() else None
                  for c in columns]
        lines.append(f"| {label(d, run_dirs)} | " + " | ".join("-" if v is None else f"{v:.6g}"
                                                               for v in finals) + " |")
    diff = differing_hparams(run_dirs)
    if diff:
        lines += ["", "| hyperparameter | " + " | ".join(label(d, run_dirs) for d in run_dirs) + " |",
                  "| --- |" + " --- |" * len(run_dirs)]
        lines += [f"| {k} | " + " | ".join(str(v) for v in vals) + " |" for k, vals in diff.items()]
    lines.append(f"\nwrote {out_png}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="run directories")
    p.add_argument("--metrics", nargs="*", default=None, help="metrics to plot (default: all val/*)")
    p.add_argument("--out", type=Path, default=Path("compare.png"))
    args = p.parse_args(argv)
    report = compare(args.runs, args.metrics, args.out)
    print(report)
    return report


if __name__ == "__main__":
    main()
