"""Compare runs side by side: the local counterpart of a W&B dashboard.

    python scripts/compare_runs.py logs/7.4_momentum/<version> logs/7.8_adam/<version> ... \
        [--metrics val/loss] [--out logs/compare.png]

Overlays the curves of every run (from its metrics.csv, against epochs; chapter 7 runs are
validated every 100 examples, so their curves have points inside epochs) in one PNG, and prints
two Markdown tables: the final value of each metric per run, and the hyperparameters that differ
between the runs' config.yaml files. Legends sit under the panels; a run much longer than the
others is cut at their length (its label says so; its final value is in the table); the y axis is
logarithmic when the values span more than two decades (a diverging run), or `--ylim LO HI`.
"""

import argparse
import math
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package

from d2l_lightning.plots import curve_table  # noqa: E402
from d2l_lightning.scripting import output_file, run_script  # noqa: E402

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


def horizon(lengths: list[float]) -> float:
    """The x range to draw: the longest run, unless it is much longer (over 1.5x) than the median
    run, then the longest of the others; a 6-epoch run does not squeeze a dozen 2-epoch ones."""
    ordered = sorted(lengths)
    median = ordered[len(ordered) // 2]
    kept = [x for x in ordered if x <= 1.5 * median]
    return kept[-1] if kept else ordered[-1]


def _decades(values) -> float:
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    return math.log10(max(positive) / min(positive)) if len(positive) > 1 else 0.0


def compare(run_dirs: list[Path], metrics: list[str] | None, out_png: Path,
            panels: list[tuple[str, list[Path]]] | None = None, ylim: tuple[float, float] | None = None,
            color_key=None) -> str:
    """Plots the runs' curves and returns the report (final values, differing hyperparameters).

    One panel per metric (rows) and per entry of `panels` (columns: a title and its runs; default
    all runs in one); legends under the panels, never over the curves; the x axis ends with the
    runs (see `horizon`: a much longer run is cut and says so in its label); a log y axis where a
    panel's values span more than two decades, else `ylim` if given and every run ends inside it.
    `color_key(label)` gives runs the same colour across panels (e.g. a twin's)."""
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
    panels = panels or [("", list(run_dirs))]
    labels = {d: label(d, run_dirs) for d in run_dirs}
    keys = list(dict.fromkeys((color_key or str)(labels[d]) for d in run_dirs))
    palette = plt.cm.tab10.colors if len(keys) <= 10 else plt.cm.tab20.colors
    colour = {k: palette[i % len(palette)] for i, k in enumerate(keys)}
    rows_in_legend = max(math.ceil(len(runs) / 2) for _, runs in panels)
    fig, axes = plt.subplots(len(columns), len(panels), squeeze=False, sharey="row",
                             figsize=(5.2 * len(panels), (3.2 + 0.22 * rows_in_legend) * len(columns)))
    for row, col in enumerate(columns):
        series = {d: tables[d][col].dropna() for d in run_dirs if col in tables[d]}
        series = {d: s for d, s in series.items() if len(s)}
        if not series:
            continue
        x_end = horizon([float(s.index.max()) for s in series.values()])
        shown = [v for s in series.values() for v in s[s.index <= x_end].values]
        finals = [float(s.iloc[-1]) for s in series.values()]
        log_y = _decades(shown) > 2
        for i, (ax, (title, runs)) in enumerate(zip(axes[row], panels)):
            for d in runs:
                if d not in series:
                    continue
                s = series[d]
                name = labels[d]
                if s.index.max() > x_end * 1.001:
                    name += f" (to epoch {s.index.max():g}, cut)"
                    s = s[s.index <= x_end]
                ax.plot(s.index, s.values, label=name, color=colour[(color_key or str)(labels[d])],
                        marker="o" if len(s) <= 3 else None, markersize=3, linewidth=1.2)
            ax.set_xlim(0, x_end * 1.02)
            if log_y:
                ax.set_yscale("log")
            elif ylim and all(ylim[0] <= v <= ylim[1] for v in finals):
                ax.set_ylim(*ylim)
            ax.set_xlabel("epoch")
            if i == 0:
                ax.set_ylabel(col + (" (log)" if log_y else ""))
            if title:
                ax.set_title(title, fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110, bbox_inches="tight")
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
    p.add_argument("--out", type=output_file, default="logs/compare.png")
    p.add_argument("--ylim", nargs=2, type=float, metavar=("LO", "HI"), default=None,
                   help="y range of the panels (kept only if every run ends inside it)")
    args = p.parse_args(argv)
    report = compare(args.runs, args.metrics, args.out, ylim=tuple(args.ylim) if args.ylim else None)
    print(report)
    return report


if __name__ == "__main__":
    run_script(main)
