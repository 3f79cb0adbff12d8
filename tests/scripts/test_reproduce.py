"""scripts/reproduce.py: the budgets come from the configs' Result lines, and a session of two tiny
runs writes the results page (every column from the runs' metrics.csv) and the chapter's curves."""

import importlib
import json
import statistics
import sys

import pandas as pd
from helpers.cli import REPO
from helpers.fakedata import make_airfoil

CONFIGS = ["configs/ch07/7.3_sgd_minibatch.yaml", "configs/ch07/7.7_adadelta_concise.yaml"]


def reproduce():
    sys.path.insert(0, str(REPO / "scripts"))
    return importlib.import_module("reproduce")


def epochs(record: dict) -> pd.Series:
    """The last epoch's row of a run's metrics.csv, read here independently of the script."""
    table = pd.read_csv(f"{record['run_dir']}/metrics.csv")
    return table[table["epoch"] == table["epoch"].max()].ffill().iloc[-1]


def test_budget_from_the_configs_result_lines():
    rp = reproduce()
    every = rp.plans(rp.chapter_configs(None))
    cpu = {p.config for p in every if p.fits("cpu", rp.CPU_MINUTES)}
    gpu = {p.config for p in every if p.fits("gpu", rp.CPU_MINUTES)}
    assert gpu == {p.config for p in every} >= cpu
    assert {"configs/ch03/3.6_softmax_scratch.yaml", "configs/ch05/5.5_lenet.yaml",
            "configs/ch07/7.7_adadelta_concise.yaml"} <= cpu
    # no CPU measurement (s/epoch —) or too slow for a laptop: GPU only
    assert not {"configs/ch05/5.6_alexnet.yaml", "configs/ch05/5.11_resnet18.yaml",
                "configs/ch10/10.8_textcnn.yaml"} & cpu
    lenet = next(p for p in every if p.config == "configs/ch05/5.5_lenet.yaml")
    assert lenet.epochs == 5 and lenet.s_epoch == 4.6  # "4.6 on a quiet machine; ..."
    # one plan per distinct Result args: 3.12 scratch runs with λ=0 and with λ=3
    assert [p.args for p in every if p.config.endswith("3.12_weight_decay_scratch.yaml")] == \
        ["", "--model.init_args.lambd 3"]
    assert rp.main(["--budget", "cpu", "--chapters", "7", "--list"]) == []


def test_two_configs_write_the_page_from_metrics_csv(tmp_path):
    rp = reproduce()
    data = make_airfoil(tmp_path / "airfoil")
    out, page = tmp_path / "out", tmp_path / "reproduced.md"
    tiny = ["--data.init_args.data_dir", str(data), "--data.init_args.checksum", "false",
            "--data.init_args.num_examples", "40", "--trainer.val_check_interval", "2",
            "--trainer.max_epochs", "1", "--trainer.enable_checkpointing", "false",
            "--config", str(REPO / "configs/logger/csv.yaml")]
    records = rp.main([*CONFIGS, "--seeds", "3", "--out", str(out), "--page", str(page), "--extra", *tiny])
    assert [(r["config"], r["seed"], r["error"]) for r in records] == [(c, 3, None) for c in CONFIGS]
    assert [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()] == records
    assert (out / "ch07_curves.png").stat().st_size > 5000

    lines = page.read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| section"))
    assert lines[header] == "| section | config | book | ours | seeds | device | s/epoch | date |"
    rows = [[c.strip() for c in line.strip("|").split(" | ")]
            for line in lines[header + 2:] if line.startswith("|")]
    assert len(rows) == 2
    for row, config in zip(rows, CONFIGS):
        section, cell, book, ours, seeds, device, s_epoch, day = row
        assert section.startswith("7.") and f"[`{config}`](../{config})" == cell
        run = next(r for r in records if r["config"] == config)
        last = epochs(run)
        assert ours == (f"val/loss {last['val/loss']:.6g}; val/w_norm {last['val/w_norm']:.4g}; "
                        f"train/loss {last['train/loss']:.6g} after 1 epochs")
        assert float(s_epoch) == float(f"{last['train/epoch_time']:.3g}")
        assert seeds == "3" and "CPU" in device and day == run["date"]
    assert rows[1][2] == "0.242104"  # the book's value, from the config's Result line

    # several seeds of a config: mean ± sd [min, max] of its first headline metric
    as_seeds = [{**records[0], "seed": 0}, {**records[1], "config": CONFIGS[0], "seed": 1}]
    finals = [epochs(r)["val/loss"] for r in records]
    assert rp.page_rows(as_seeds)[0][3:5] == [
        f"val/loss {statistics.mean(finals):.6g} ± {statistics.stdev(finals):.6g} "
        f"[{min(finals):.6g}, {max(finals):.6g}] after 1 epochs", "0 1"]

    # the page again from the session's runs.jsonl, training nothing
    again = tmp_path / "again.md"
    rp.main(["--from", str(out / "runs.jsonl"), "--page", str(again)])
    assert again.read_text().split("| section")[1] == page.read_text().split("| section")[1]
