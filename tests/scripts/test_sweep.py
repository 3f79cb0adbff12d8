"""scripts/sweep.py and configs/sweeps/: W&B sweep files, expanded into CLI runs on this machine."""

import contextlib
import csv
import importlib
import io
import math
import sys
from pathlib import Path

import pytest
import yaml
from helpers.cli import REPO, tiny_data_args

SWEEP_FILES = sorted((REPO / "configs" / "sweeps").glob("*.yaml"))
MLP = "configs/ch03/3.10_mlp.yaml"
COMMAND = ["${env}", "${interpreter}", "-m", "d2l_lightning", "fit", "--config", MLP, "${args}"]


def script(name: str):
    sys.path.insert(0, str(REPO / "scripts"))
    return importlib.import_module(name)


def write_sweep(folder: Path, method: str, parameters: dict, **extra) -> Path:
    path = folder / f"tiny_{method}.yaml"
    path.write_text(yaml.safe_dump({"name": f"tiny_{method}", "method": method,
                                    "metric": {"name": "val/acc", "goal": "maximize"},
                                    "parameters": parameters, "command": COMMAND, **extra}, sort_keys=False))
    return path


def tiny(fashion_dir) -> list[str]:
    return [*tiny_data_args(MLP, fashion_dir, fashion_dir), "--trainer.max_epochs", "1",
            "--trainer.limit_train_batches", "3"]


def final(run_dir: Path, metric: str) -> float:
    rows = [r for r in csv.DictReader(open(run_dir / "metrics.csv")) if r.get(metric)]
    return float(rows[-1][metric])


# --- the shipped sweep files -------------------------------------------------------------------------
def test_there_are_sweeps_for_the_mlp_and_chapter_7():
    names = {p.stem for p in SWEEP_FILES}
    assert {"3.10_mlp_lr_hidden", "7_optimizers_airfoil"} <= names


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.stem)
def test_sweep_file_names_only_options_the_cli_has(path):
    """Each file parses, its command is `python -m d2l_lightning fit --config <existing config>
    ${args}`, W&B's own agent code turns a combination into exactly our flags, and the CLI accepts
    them (`--print_config` prints the swept values where the keys say)."""
    from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

    from d2l_lightning.cli import main

    sweep = script("sweep")
    raw = yaml.safe_load(path.read_text())
    assert raw["project"] == "d2l-lightning" and raw["name"] == path.stem
    assert raw["command"][:4] == ["${env}", "${interpreter}", "-m", "d2l_lightning"]
    assert raw["command"][-1] == "${args}"
    spec = sweep.load_sweep(path)
    assert all((REPO / a).is_file() for a in spec.command[2::2]), spec.command  # fit --config X [--config Y]
    values = sweep.expand(spec, "random", count=1, seed=0)[0]
    flags = sweep.flags(values)
    assert create_sweep_command_args({"args": {k: {"value": v} for k, v in values.items()}})["args"] == flags
    out = io.StringIO()
    with pytest.raises(SystemExit) as e, contextlib.redirect_stdout(out):
        main([*[str(REPO / a) if a.endswith(".yaml") else a for a in spec.command], *flags, "--print_config"])
    assert e.value.code in (0, None)
    printed = yaml.safe_load(out.getvalue())
    for key, value in values.items():
        node = printed
        for part in key.split("."):
            node = node[part]
        assert node == value, key


def test_sweep_file_errors_are_one_line(tmp_path):
    sweep = script("sweep")
    bad = write_sweep(tmp_path, "grid", {"model.init_args.optimizer.init_args.lr": {"values": [0.1]}})
    text = bad.read_text().replace("${args}", "${args_no_hyphens}")
    bad.write_text(text)
    with pytest.raises(SystemExit, match=r"args_no_hyphens.*use \$\{args\}"):
        sweep.load_sweep(bad)
    no_metric = write_sweep(tmp_path, "grid", {"a": {"values": [1]}}, metric={})
    with pytest.raises(SystemExit, match="metric.name is missing"):
        sweep.load_sweep(no_metric)
    spec = sweep.load_sweep(write_sweep(tmp_path, "grid", {"a": {"min": 0.1, "max": 1.0}}))
    with pytest.raises(SystemExit, match="grid needs values"):
        sweep.expand(spec, "grid")
    with pytest.raises(SystemExit, match="needs --count"):
        sweep.expand(spec, "random")


# --- expanding a sweep -------------------------------------------------------------------------------
def test_grid_is_every_combination_and_random_draws_are_seeded_and_in_range(tmp_path):
    sweep = script("sweep")
    params = {"lr": {"values": [0.1, 0.5]}, "hidden": {"values": [8, 16]}, "wd": {"value": 0.0}}
    spec = sweep.load_sweep(write_sweep(tmp_path, "grid", params))
    assert sweep.expand(spec, "grid") == [
        {"lr": 0.1, "hidden": 8, "wd": 0.0}, {"lr": 0.1, "hidden": 16, "wd": 0.0},
        {"lr": 0.5, "hidden": 8, "wd": 0.0}, {"lr": 0.5, "hidden": 16, "wd": 0.0}]
    assert sweep.flags({"model.init_args.optimizer.init_args.lr": 0.1, "trainer.deterministic": True}) == [
        "--model.init_args.optimizer.init_args.lr=0.1", "--trainer.deterministic=True"]
    params = {"lr": {"distribution": "log_uniform_values", "min": 1e-3, "max": 1.0},
              "u": {"min": -1.0, "max": 1.0}, "n": {"min": 2, "max": 5}, "q": {"distribution": "q_uniform",
                                                                            "min": 0, "max": 1, "q": 0.25},
              "c": {"values": ["a", "b"]}}
    spec = sweep.load_sweep(write_sweep(tmp_path, "random", params))
    draws = sweep.expand(spec, "random", count=200, seed=3)
    assert draws == sweep.expand(spec, "random", count=200, seed=3)
    assert draws != sweep.expand(spec, "random", count=200, seed=4)
    assert all(1e-3 <= d["lr"] <= 1 and -1 <= d["u"] <= 1 and d["n"] in (2, 3, 4, 5) and d["c"] in "ab"
               and d["q"] in (0, 0.25, 0.5, 0.75, 1) for d in draws)
    assert sum(d["lr"] < 0.0316 for d in draws) > 60  # log-uniform: half of the draws below sqrt(1e-3)
    keys = ["model.init_args.optimizer.init_args.lr", "data.init_args.lr", "a.num_hiddens"]
    short = ["optimizer.init_args.lr", "data.init_args.lr", "num_hiddens"]
    assert list(sweep.short_names(keys).values()) == short
    rows = [{"run": "run1", "val/loss": 0.3, "best val/loss": 0.1}, {"run": "run2", "val/loss": 0.2,
            "best val/loss": 0.2}, {"run": "run3", "val/loss": float("nan"), "best val/loss": None}]
    assert sweep.best_row(rows, "val/loss", "minimize")["run"] == "run2"  # by the final value
    assert sweep.best_row(rows, "best val/loss", "minimize")["run"] == "run1"  # --rank-by best
    assert sweep.best_row(rows, "val/loss", "maximize")["run"] == "run1"  # a NaN never wins


# --- running sweeps ----------------------------------------------------------------------------------
def test_grid_sweep_runs_every_combination_in_one_wandb_group_and_picks_the_best(fashion_dir, tmp_path, capsys):
    """(The W&B name and group are checked as the run's W&B logger got them, in its config.yaml; that
    W&B records what the logger gets is checked offline by the K-fold test.)"""
    sweep = script("sweep")
    path = write_sweep(tmp_path, "grid", {"model.init_args.optimizer.init_args.lr": {"values": [0.05, 0.5]},
                                          "model.init_args.num_hiddens": {"values": [8, 16]}})
    result = sweep.main([str(path), *tiny(fashion_dir)])
    out = capsys.readouterr().out
    assert [r["run"] for r in result.rows] == ["run1", "run2", "run3", "run4"]
    lr, hidden = "model.init_args.optimizer.init_args.lr", "model.init_args.num_hiddens"
    swept = [(r[lr], r[hidden]) for r in result.rows]
    assert swept == [(0.05, 8), (0.05, 16), (0.5, 8), (0.5, 16)]
    assert result.sweep_dir.resolve().parent == (tmp_path / "logs" / "tiny_grid").resolve()
    group = f"tiny_grid-{result.sweep_dir.name}"
    for row in result.rows:
        run_dir = row["run_dir"]
        assert row["status"] == "ok" and run_dir == result.sweep_dir / row["run"]
        saved = yaml.safe_load((run_dir / "config.yaml").read_text())
        model = saved["model"]["init_args"]
        assert (model["optimizer"]["init_args"]["lr"], model["num_hiddens"]) == (
            row["model.init_args.optimizer.init_args.lr"], row["model.init_args.num_hiddens"])
        (wandb,) = [lg["init_args"] for lg in saved["trainer"]["logger"]
                    if lg["class_path"].endswith("WandbLogger")]
        assert wandb["group"] == group and wandb["name"].startswith(row["run"] + " lr=")
        assert "sweep" in wandb["tags"]
        assert row["val/acc"] == pytest.approx(final(run_dir, "val/acc"))
        assert "epoch 1," in (run_dir / "output.log").read_text()
    best = max(result.rows, key=lambda r: r["val/acc"])
    assert result.best["run"] == best["run"]
    assert f"best: {best['run']}, val/acc {best['val/acc']:.6g} (maximize)" in out
    assert "epoch 1," not in out and len(out.strip().splitlines()) <= 16  # a line per run, the table, the best
    table = list(csv.DictReader(open(result.csv_path)))
    assert [r["run"] for r in table] == ["run1", "run2", "run3", "run4"]
    assert [float(r["val/acc"]) for r in table] == pytest.approx([r["val/acc"] for r in result.rows])


def test_random_sweep_draws_count_runs_and_reports_the_best(fashion_dir, tmp_path, capsys):
    sweep = script("sweep")
    params = {"model.init_args.optimizer.init_args.lr": {"distribution": "log_uniform_values",
                                                         "min": 0.01, "max": 1.0},
              "model.init_args.num_hiddens": {"values": [8, 16, 32]}}
    path = write_sweep(tmp_path, "random", params)
    result = sweep.main([str(path), "--count", "3", "--seed", "1", *tiny(fashion_dir)])
    expected = sweep.expand(sweep.load_sweep(path), "random", count=3, seed=1)
    assert [{k: r[k] for k in params} for r in result.rows] == expected
    assert all(r["status"] == "ok" and math.isfinite(r["val/acc"]) for r in result.rows)
    assert result.best["run"] == max(result.rows, key=lambda r: r["val/acc"])["run"]
    out = capsys.readouterr().out
    assert "sweep tiny_random: random, 3 runs, metric val/acc (maximize)" in out
    assert "rerun: python -m d2l_lightning fit --config configs/ch03/3.10_mlp.yaml --model" in out
    assert len(list(csv.DictReader(open(result.csv_path)))) == 3


def test_gpu_mode_runs_one_subprocess_per_gpu_at_a_time(tmp_path, monkeypatch):
    """--gpus: each GPU takes the next run when its run ends, with CUDA_VISIBLE_DEVICES set (checked
    with a stand-in worker; a real worker is `sweep.py --worker <job>`, the in-process runner)."""
    sweep = script("sweep")
    code = ("import json, os, sys, time; time.sleep(0.3); "
            f"print({sweep.RESULT_TAG!r} + json.dumps({{'run_dir': sys.argv[1] + '/gpu' + "
            "os.environ['CUDA_VISIBLE_DEVICES'], 'error': None, 'seconds': 0.3}))")
    monkeypatch.setattr(sweep, "worker_command",
                        lambda job, verbose: [sys.executable, "-c", code, str(tmp_path)])
    jobs = [{"run": f"run{i}", "label": "", "values": {}} for i in range(1, 5)]
    gpu_of = {}
    results = sweep._run_jobs_on_gpus(jobs, ["0", "1"], False,
                                      lambda job, result, gpu: gpu_of.setdefault(job["run"], gpu))
    assert sorted(gpu_of) == ["run1", "run2", "run3", "run4"] and set(gpu_of.values()) == {"0", "1"}
    assert [r.run_dir.name for r in results] == [f"gpu{gpu_of[job['run']]}" for job in jobs]
    assert all(r.error is None for r in results)
