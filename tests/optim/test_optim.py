"""Chapter 7: the book's optimizers against torch.optim, their state round trip, the 2-D
trajectories' printed points, and the airfoil data."""

import contextlib
import io
import sys

import numpy as np
import pytest
import torch
from conftest import SHARED_DATA
from helpers.cli import QUIET, REPO, run_cli, tiny_data_args
from torch import nn

from d2l_lightning import optim
from d2l_lightning.datamodules import Airfoil
from d2l_lightning.trajectories import OBJECTIVES, book_figures_7_1, run_optimizer, show_trace_2d, trace_line

# (ours, torch twin) with settings that make the update rules identical
TWINS = [
    (lambda p: optim.SGD(p, lr=0.05), lambda p: torch.optim.SGD(p, lr=0.05)),
    (lambda p: optim.Momentum(p, lr=0.02, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.02, momentum=0.9)),
    (lambda p: optim.AdaGrad(p, lr=0.1, eps=0.0), lambda p: torch.optim.Adagrad(p, lr=0.1, eps=0.0)),
    (lambda p: optim.RMSProp(p, lr=0.01, gamma=0.9, eps=0.0),
     lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=0.0)),
    (lambda p: optim.AdaDelta(p, rho=0.9, eps=1e-5),
     lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.9, eps=1e-5)),
    (lambda p: optim.Adam(p, lr=0.01, eps=1e-6), lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-6)),
]
IDS = ["SGD", "Momentum", "AdaGrad", "RMSProp", "AdaDelta", "Adam"]


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1)).double()


def _train(net, opt, steps, seed=1):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        X = torch.randn(16, 5, generator=g, dtype=torch.float64)
        y = X.sum(dim=1, keepdim=True) + 0.1 * torch.randn(16, 1, generator=g, dtype=torch.float64)
        opt.zero_grad()
        ((net(X) - y) ** 2 / 2).mean().backward()
        opt.step()


@pytest.mark.parametrize("ours, twin", TWINS, ids=IDS)
def test_optimizer_equals_torch_twin_over_many_steps(ours, twin):
    a, b = _net(), _net()
    _train(a, ours(a.parameters()), 300)
    _train(b, twin(b.parameters()), 300)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.allclose(pa, pb, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("ours, twin", [
    (lambda p: optim.AdaGrad(p, lr=0.1), lambda p: torch.optim.Adagrad(p, lr=0.1)),
    (lambda p: optim.RMSProp(p, lr=0.01, gamma=0.9), lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9)),
], ids=["AdaGrad", "RMSProp"])
def test_book_eps_placement_differs_only_slightly(ours, twin):
    """The book adds eps = 1e-6 inside the square root, torch adds its eps after it."""
    a, b = _net(), _net()
    _train(a, ours(a.parameters()), 300)
    _train(b, twin(b.parameters()), 300)
    diffs = [(pa - pb).abs().max().item() for pa, pb in zip(a.parameters(), b.parameters())]
    assert 0 < max(diffs) < 2e-2  # after 300 steps; with eps = 0 on both sides they are equal (above)


@pytest.mark.parametrize("ours", [t[0] for t in TWINS], ids=IDS)
def test_state_dict_round_trip_mid_run(ours):
    a = _net()
    opt_a = ours(a.parameters())
    _train(a, opt_a, 40, seed=1)
    buffer = io.BytesIO()  # through bytes, as a checkpoint does (and loadable with weights_only)
    torch.save({"net": a.state_dict(), "opt": opt_a.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    b = _net()
    b.load_state_dict(saved["net"])
    opt_b = ours(b.parameters())
    opt_b.load_state_dict(saved["opt"])
    _train(a, opt_a, 40, seed=2)
    _train(b, opt_b, 40, seed=2)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_parameter_groups_and_bad_hyperparameters():
    net = _net()
    opt = optim.Adam([{"params": net[0].parameters()}, {"params": net[2].parameters(), "lr": 0.0}], lr=0.1)
    before = [p.clone() for p in net[2].parameters()]
    _train(net, opt, 5)
    assert all(torch.equal(p, q) for p, q in zip(before, net[2].parameters()))
    params = list(net.parameters())
    for bad in (lambda: optim.Momentum(params, lr=-1), lambda: optim.RMSProp(params, gamma=1.5),
                lambda: optim.AdaDelta(params, rho=-0.1), lambda: optim.Adam(params, eps=-1)):
        with pytest.raises(ValueError):
            bad()


# --- 2-D and 1-D trajectories: the points the book prints in 7.2-7.6 ------------------------------
@pytest.mark.parametrize("make, objective, expected", [
    (lambda p: optim.SGD(p, lr=0.1), "elliptic", "epoch 20, x1 -0.057646, x2 -0.000073"),
    (lambda p: optim.SGD(p, lr=0.4), "flat", "epoch 20, x1 -0.943467, x2 -0.000073"),
    (lambda p: optim.SGD(p, lr=0.6), "flat", "epoch 20, x1 -0.387814, x2 -1673.365109"),
    (lambda p: optim.Momentum(p, lr=0.4, momentum=0.5), "flat", "epoch 20, x1 -0.062843, x2 0.001202"),
    (lambda p: optim.Momentum(p, lr=0.6, momentum=0.5), "flat", "epoch 20, x1 0.007188, x2 0.002553"),
    (lambda p: optim.AdaGrad(p, lr=0.4), "flat", "epoch 20, x1 -2.382563, x2 -0.158591"),
    (lambda p: optim.AdaGrad(p, lr=2), "flat", "epoch 20, x1 -0.002295, x2 -0.000000"),
    (lambda p: optim.RMSProp(p, lr=0.4, gamma=0.9), "flat", "epoch 20, x1 -0.010599, x2 0.000000"),
])
def test_book_trajectories(make, objective, expected):
    assert trace_line(run_optimizer(make, OBJECTIVES[objective], (-5.0, -2.0), 20)) == expected


@pytest.mark.parametrize("lr, expected", [(0.2, 0.06046617599999997), (0.05, 3.4867844009999995),
                                          (1.1, 61.917364224000096)])
def test_book_1d_gradient_descent(lr, expected):
    trace = run_optimizer(lambda p: optim.SGD(p, lr=lr), lambda x: x**2, [10.0], 10)
    assert trace[-1][0] == pytest.approx(expected, rel=1e-12)


def test_trajectory_script_and_plots(tmp_path, capsys):
    sys.path.insert(0, str(REPO / "scripts"))
    import trajectory

    line = trajectory.main(["--optimizer", "Momentum", "--objective", "flat", "--hp", "lr=0.4", "momentum=0.5",
                            "--out", str(tmp_path / "m.png")])
    assert line == "epoch 20, x1 -0.062843, x2 0.001202" and (tmp_path / "m.png").stat().st_size > 1000
    assert trajectory.main(["--optimizer", "torch.optim.SGD", "--hp", "lr=0.1", "--out",
                            str(tmp_path / "t.png")]) == "epoch 20, x1 -0.057646, x2 -0.000073"
    with pytest.raises(SystemExit, match="lr must be greater than 0, got -1"):
        trajectory.main(["--optimizer", "Adam", "--hp", "lr=-1", "--out", str(tmp_path / "x.png")])
    with pytest.raises(SystemExit, match="unknown optimizer"):
        trajectory.main(["--optimizer", "NoSuch", "--out", str(tmp_path / "x.png")])
    assert all(p.stat().st_size > 1000 for p in book_figures_7_1(tmp_path / "fig"))
    assert show_trace_2d("elliptic", [[-5, -2], [-4, -1]], tmp_path / "s.png").is_file()


# --- airfoil data and chapter 7 runs -------------------------------------------------------------
def test_airfoil_standardised(tmp_path):
    from helpers.fakedata import make_airfoil

    make_airfoil(tmp_path, n=60)
    dm = Airfoil(num_examples=50, data_dir=str(tmp_path), checksum=False)
    dm.setup("fit")
    X, y = dm.train_set.tensors
    assert X.shape == (50, 5) and y.shape == (50, 1) and dm.val_set is dm.train_set
    raw = np.loadtxt(tmp_path / "airfoil_self_noise.dat")
    expected = (raw - raw.mean(axis=0)) / raw.std(axis=0)
    assert np.allclose(X.numpy(), expected[:50, :5], atol=1e-5)
    assert len(next(iter(dm.val_dataloader()))[0]) == 50  # the whole set in one evaluation batch


@pytest.mark.skipif(not (SHARED_DATA / "airfoil_self_noise.dat").is_file(), reason="real data not present")
def test_real_airfoil(monkeypatch):
    monkeypatch.setenv("D2L_DATA_DIR", str(SHARED_DATA))
    dm = Airfoil()
    dm.setup("fit")
    assert dm.train_set.tensors[0].shape == (1500, 5)  # the book's features.shape


def test_compare_runs(fashion_dir, house_dir, capsys):
    sys.path.insert(0, str(REPO / "scripts"))
    import compare_runs

    runs = []
    for config, lr in (("configs/ch07/7.8_adam.yaml", "0.01"), ("configs/ch07/7.8_adam.yaml", "0.05")):
        data = tiny_data_args(config, fashion_dir, house_dir)
        run_dir, _ = run_cli(["fit", "--config", str(REPO / config), *data,
                              "--model.init_args.optimizer.init_args.lr", lr, *QUIET])
        runs.append(run_dir)
    report = compare_runs.main([str(r) for r in runs] + ["--out", "cmp.png"])
    assert "| model.init_args.optimizer.init_args.lr | 0.01 | 0.05 |" in report
    assert report.count("| 7.8_adam/") >= 2 and "val/loss" in report
    with pytest.raises(SystemExit, match="no metrics.csv"):
        compare_runs.main(["nowhere"])


def test_default_optimizer_arguments_do_not_leak():
    """A config naming torch.optim.Adadelta without lr gets Adadelta's own default (1.0)."""
    import yaml

    from d2l_lightning.cli import main

    out = io.StringIO()
    with pytest.raises(SystemExit), contextlib.redirect_stdout(out):
        main(["fit", "--config", str(REPO / "configs/ch07/7.7_adadelta_concise.yaml"), "--print_config"])
    printed = yaml.safe_load(out.getvalue())
    assert printed["model"]["init_args"]["optimizer"]["init_args"]["lr"] == 1.0
