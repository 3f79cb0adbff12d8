"""Learning curves: `curves.png` drawn from a run's `metrics.csv`, and the per-epoch tables that
scripts read from it."""

import math
from pathlib import Path

import pandas as pd

#: logged per epoch, but no learning curve
_NO_PANEL = {"epoch_time", "samples_per_sec"}
_STAGES = ("train", "val", "test")


def epoch_table(metrics_csv: str | Path) -> pd.DataFrame:
    """One row per epoch, one column per metric (the last value logged in that epoch)."""
    df = pd.read_csv(metrics_csv)
    if "epoch" not in df:
        return pd.DataFrame()
    cols = [c for c in df.columns if "/" in c]
    return df.groupby("epoch")[cols].last()


def curve_table(metrics_csv: str | Path) -> pd.DataFrame:
    """Every logged row, indexed by (fractional) epochs completed: 1.0 is the end of the first
    epoch, 0.5 its middle (chapter 7 validates every 100 examples). Rows logged at the same point
    are merged."""
    df = pd.read_csv(metrics_csv)
    if "epoch" not in df or "step" not in df:
        return pd.DataFrame()
    cols = [c for c in df.columns if "/" in c and c.split("/", 1)[0] in _STAGES]
    return df.assign(x=fractional_epochs(df).round(6)).groupby("x")[cols].last()


def fractional_epochs(df: pd.DataFrame) -> pd.Series:
    """Each row's position in epochs completed, from its epoch and step. Every epoch is measured by
    its own steps (train metrics are logged once per epoch, at its last step), so a run resumed
    with another batch size or number of processes still puts each point in its epoch."""
    if "train/loss" not in df or df["train/loss"].notna().sum() == 0:
        return df["epoch"] + 1.0
    ends = df.loc[df["train/loss"].notna()].groupby("epoch")["step"].max()
    start, length = {}, {}
    for e in sorted(df["epoch"].unique()):
        before = ends[ends.index < e]
        start[e] = before.iloc[-1] + 1 if len(before) else 0
        if e in ends.index:
            length[e] = ends[e] - start[e] + 1
        else:  # an epoch stopped before its end (a signal): as long as the one before it
            last_step = df.loc[df["epoch"] == e, "step"].max()
            length[e] = length.get(before.index[-1], 1) if len(before) else last_step + 1
    epoch = df["epoch"]
    done = (df["step"] - epoch.map(start) + 1) / epoch.map(length).clip(lower=1)
    return epoch + done.clip(lower=0, upper=1.0)


def plot_curves(metrics_csvs: list[str | Path], out_png: str | Path, title: str = "") -> Path | None:
    """Learning curves: one panel per metric name (loss, acc, ...) with a line per stage (train,
    val) and test results as points, against epochs (fractional where a stage is logged more
    often). The first metrics.csv gives the curves (for `test` and `predict` commands: the
    training run of the checkpoint); the results of the later ones (this command's own
    `test/acc`, say) are drawn as points at the last epoch. Loss panels use a
    log scale when the values span more than two decades (the book's `semilogy`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    tables = [curve_table(metrics_csvs[0])] + [epoch_table(p) for p in metrics_csvs[1:]]
    if tables[0].empty:
        return None
    table = tables[0]
    for extra in tables[1:]:  # e.g. a test run: its metrics belong to the checkpoint's last point
        if extra.empty:
            continue
        last = extra.iloc[[-1]].copy()
        last.index = [table.index.max()]
        table = table.combine_first(last)
    # a panel per metric; per-step values join their metric's panel, timings get none
    names = sorted({c.split("/", 1)[1] for c in table.columns
                    if not c.endswith("_step") and c.split("/", 1)[1] not in _NO_PANEL},
                   key=lambda n: (n != "loss", n))
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        values = []
        steps = table[f"train/{name}_step"].dropna() if f"train/{name}_step" in table else None
        if steps is not None and len(steps) > 1:
            values += steps.tolist()
            ax.plot(steps.index, steps.values, "-", color="0.6", linewidth=0.7, alpha=0.6,
                    label="train (batches)")
        for stage in ("train", "val", "test"):
            col = f"{stage}/{name}"
            if col not in table:
                continue
            series = table[col].dropna()
            values += series.tolist()
            epochs = series.index
            if stage == "test" or len(series) == 1:
                ax.plot(epochs, series.values, "o", label=stage)
            else:
                ax.plot(epochs, series.values, "-" if stage == "train" else "--", label=stage)
        positive = [v for v in values if v > 0]
        if name in ("loss", "ppl") and positive and len(positive) == len(values) and \
                max(positive) / min(positive) > 100:
            ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs completed: 1, 2, 3
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return Path(out_png)


def plot_run(run_dir: Path, trained_by: Path | None = None) -> Path | None:
    """Draws `run_dir/curves.png` from the run's metrics.csv; for a test or predict command,
    `trained_by` is the run that trained its checkpoint, whose curves are drawn with this
    command's results as points."""
    sources = [p for p in ([trained_by / "metrics.csv"] if trained_by else []) + [run_dir / "metrics.csv"]
               if p.is_file()]
    return plot_curves(sources, run_dir / "curves.png", title=run_dir.parent.name) if sources else None
