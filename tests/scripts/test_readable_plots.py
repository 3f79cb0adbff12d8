"""compare_runs.py's and the trajectory plots' layout: nothing over the curves, nothing cut off, a
long or diverging run does not flatten the others (checked on the figure objects, no training)."""

import importlib
import sys

import pandas as pd
import pytest
from helpers.cli import REPO

from d2l_lightning.optim import SGD
from d2l_lightning.trajectories import OBJECTIVES, _title, run_optimizer, show_trace_2d


def script(name: str):
    sys.path.insert(0, str(REPO / "scripts"))
    return importlib.import_module(name)


@pytest.fixture
def saved_figures(monkeypatch):
    """The figures the code under test saves, drawn, for inspecting their layout."""
    from matplotlib.figure import Figure

    figures, save = [], Figure.savefig

    def keep(fig, *args, **kwargs):
        fig.canvas.draw()
        figures.append(fig)
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return figures


def fake_run(folder, epochs: int, losses) -> object:
    """A run folder with a metrics.csv as the CLI writes it: val/loss 5 times per epoch."""
    folder.mkdir(parents=True)
    rows, step = [], 0
    for epoch in range(epochs):
        for k in range(5):
            step += 10
            rows.append({"epoch": epoch, "step": step - 1, "val/loss": losses(epoch * 5 + k)})
        rows.append({"epoch": epoch, "step": step - 1, "train/loss": losses(epoch * 5 + 4)})
    pd.DataFrame(rows).to_csv(folder / "metrics.csv", index=False)
    return folder


def test_horizon_ignores_one_much_longer_run():
    compare_runs = script("compare_runs")
    assert compare_runs.horizon([2.0] * 13 + [6.0]) == 2.0
    assert compare_runs.horizon([1.0, 2.0, 3.0]) == 3.0 and compare_runs.horizon([6.0]) == 6.0


def test_compare_legend_under_the_curves_long_run_cut_log_scale_when_diverging(tmp_path, saved_figures):
    compare_runs = script("compare_runs")
    runs = [fake_run(tmp_path / f"7.{i}_opt" / "v", 2, lambda t, i=i: 0.25 + 0.3 / (t + i + 1))
            for i in range(4)]
    runs.append(fake_run(tmp_path / "7.3_batch" / "v", 6, lambda t: 0.25 + 0.1 / (t + 1)))
    report = compare_runs.compare(runs, ["val/loss"], tmp_path / "a.png", ylim=(0.22, 0.35))
    (fig,) = saved_figures
    (ax,) = fig.axes
    legend = ax.get_legend()
    assert legend.get_window_extent().y1 < ax.get_window_extent().y0  # under the axes, not over the curves
    labels = [t.get_text() for t in legend.get_texts()]
    assert "7.3_batch (to epoch 6, cut)" in labels and ax.get_xlim()[1] == pytest.approx(2.04)
    assert ax.get_ylim() == (0.22, 0.35) and ax.get_yscale() == "linear"
    assert "| 7.3_batch | 0.253333 |" in report  # its final value still in the table

    diverging = fake_run(tmp_path / "7.9_big_lr" / "v", 2, lambda t: 0.3 * 10.0 ** t)
    compare_runs.compare(runs[:2] + [diverging], ["val/loss"], tmp_path / "b.png", ylim=(0.22, 0.35))
    ax = saved_figures[-1].axes[0]
    assert ax.get_yscale() == "log"  # 0.25 to 3e8: decades apart


def test_compare_panels_share_colours_between_twins(tmp_path, saved_figures):
    compare_runs = script("compare_runs")
    scratch = [fake_run(tmp_path / n / "v", 2, lambda t: 0.3) for n in ("7.4_momentum", "7.8_adam")]
    concise = [fake_run(tmp_path / n / "v", 2, lambda t: 0.3)
               for n in ("7.4_momentum_concise", "7.8_adam_concise")]
    compare_runs.compare(scratch + concise, ["val/loss"], tmp_path / "c.png",
                         panels=[("scratch", scratch), ("concise", concise)],
                         color_key=lambda name: name.removesuffix("_concise"))
    left, right = saved_figures[0].axes
    assert (left.get_title(), right.get_title()) == ("scratch", "concise")
    assert [ln.get_color() for ln in left.lines] == [ln.get_color() for ln in right.lines]


def test_diverging_trajectory_title_fits_and_axes_show_the_blow_up(tmp_path, saved_figures):
    trace = run_optimizer(lambda p: SGD(p, lr=1.2), OBJECTIVES["flat"], (-5.0, -2.0), 60)
    title = _title("torch.optim.RMSprop lr=0.4 alpha=0.9 momentum=0.5 centered=1, flat objective", trace)
    assert all(len(line) <= 60 for line in title.splitlines())
    assert title.splitlines()[-1] == "epoch 60, x1 -0.000000, x2 -1.225e+35 (diverged)"
    show_trace_2d("flat", trace, tmp_path / "d.png", title="SGD lr=1.2, flat objective")
    (fig,) = saved_figures
    ax = fig.axes[0]
    box, page = ax.title.get_window_extent(), fig.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and box.y1 <= page.y1  # the whole title is on the page
    assert ax.get_yscale() == "symlog" and ax.get_ylim()[0] < -1e35
