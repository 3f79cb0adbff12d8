"""Run book configs on the real data and write what they reached as a results page, from the runs'
metrics.csv (never by hand).

    python scripts/reproduce.py --budget cpu                 # every config a laptop CPU runs in minutes
    python scripts/reproduce.py --budget gpu --extra --config configs/trainer/gpu.yaml   # all of them
    python scripts/reproduce.py --budget cpu --chapters 3 7 --list   # the plan only: configs, minutes
    python scripts/reproduce.py configs/ch03/3.10_mlp.yaml --seeds 0 1 2 3 4
    python scripts/reproduce.py configs/ch03/*.yaml --extra --config configs/logger/csv.yaml

The budget comes from the configs' own `# Result:` lines (the one place results are written by
hand, see scripts/results_page.py): a config is in the `cpu` budget when its measured seconds per
epoch (the first number of its `# Result: s/epoch` line, measured on a 2-core CPU) times its
`trainer.max_epochs` fits in --cpu_minutes (default 15). A config without a CPU measurement
(`s/epoch —`: the chapter 5 networks at 224 or 96 px, IMDb) is `gpu` only. A config with several
result rows runs once per distinct `# Result: args` (3.12's λ=0 and λ=3).

Each run goes through the same CLI as `python -m d2l_lightning fit` (in this process, one after the
other) into `--out` (default logs/reproduce/<date-time>/<config stem>/<version>/). After every run
the script appends it to `--out/runs.jsonl` and rewrites the page (default docs/reproduced.md:
section, config, book, ours, seeds, device, s/epoch, date), so an interrupted session still has
its page; `--from RUNS.jsonl ...` rewrites the page from earlier sessions' runs without training.
"Ours" is the last epoch of each run's metrics.csv (its first three headline metrics; with several
seeds, mean ± sd [min, max] of the first), s/epoch the median `train/epoch_time` of its epochs.
It also draws each chapter's curves into `--out/chNN_curves.png` (one panel per config: its
headline metric per epoch, train and val).

With --seeds every config runs once per seed: a single final-epoch test accuracy of these SGD runs
moves by +-0.02 from seed to seed (and from epoch to epoch), so one run says little.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shlex
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's package
sys.path.insert(0, str(REPO / "scripts"))

import results_page  # noqa: E402

CPU_MINUTES = 15.0
PAGE = REPO / "docs" / "reproduced.md"
# the metrics a row shows, most telling first (the first present one gets the seed statistics)
HEADLINE = ["val/acc", "val/map_50", "val/map", "train/acc", "train/ppl", "val/ppl", "val/log_rmse",
            "train/log_rmse", "val/bleu", "val/w_err", "val/b_err", "val/loss", "val/w_norm", "train/loss"]
SHOWN = 3
FIRST_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)")
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
COLUMNS = ["section", "config", "book", "ours", "seeds", "device", "s/epoch", "date"]


@dataclass
class Plan:
    """One run unit: a config (plus a result row's args) with its book value and expected time."""
    config: str  # repository-relative
    args: str
    section: str
    book: str
    epochs: int | None
    s_epoch: float | None  # measured on the CPU, from the config's Result line

    @property
    def cpu_minutes(self) -> float | None:
        if self.s_epoch is None or self.epochs is None:
            return None
        return self.s_epoch * self.epochs / 60

    def fits(self, budget: str, cpu_minutes: float) -> bool:
        return budget == "gpu" or (self.cpu_minutes is not None and self.cpu_minutes <= cpu_minutes)


def max_epochs(config: Path) -> int | None:
    import yaml

    cfg = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    value = (cfg.get("trainer") or {}).get("max_epochs")
    return int(value) if value is not None else None


def plans(configs: list[Path]) -> list[Plan]:
    """One plan per config and distinct result args, in the results table's order."""
    out: dict[tuple[str, str], Plan] = {}
    order: dict[tuple[str, str], tuple] = {}
    for path in configs:
        try:
            rows = sorted(results_page.parse_config(path, REPO), key=lambda r: r.sort_key)
        except results_page.ResultsError:  # a config outside the chapters (or without results)
            numbered = results_page.NUMBER.match(path.stem.split("_")[0])
            section = path.stem.replace("_", " ", 1) if numbered else "0 " + path.stem
            rows = [results_page.Row(config=results_page._relative(path, REPO), section=section, book="—",
                                     ours="—")]
        for row in rows:
            key = (row.config, row.args)
            if key not in out:
                number = FIRST_NUMBER.match(row.s_epoch)
                out[key] = Plan(row.config, row.args, row.section, row.book, max_epochs(path),
                                float(number.group(1)) if number else None)
                order[key] = row.sort_key
    return sorted(out.values(), key=lambda plan: order[(plan.config, plan.args)])


def chapter_configs(chapters: list[int] | None) -> list[Path]:
    paths = sorted(REPO.glob(results_page.CONFIG_GLOB))
    if chapters:
        paths = [p for p in paths if int(p.parent.name.removeprefix("ch")) in chapters]
    return paths


def saved_config(run_dir: Path) -> dict:
    import yaml

    path = run_dir / "config.yaml"
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def describe_device(run_dir: Path) -> str:
    """The device the run trained on, from its saved config.yaml and this machine; for the CPU with
    the load average at the run's end (times on a shared machine are upper bounds)."""
    import torch

    trainer = saved_config(run_dir).get("trainer") or {}
    accelerator, devices = str(trainer.get("accelerator", "auto")), trainer.get("devices", "auto")
    if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        count = torch.cuda.device_count() if devices in (-1, "auto", "-1") else devices
        return f"{count}× {torch.cuda.get_device_name(0)}"
    return f"{platform.machine()} CPU, {os.cpu_count()} cores, load {os.getloadavg()[0]:.0f}"


def run_one(plan: Plan, seed: int | None, out: Path, extra: list[str]) -> dict:
    """Trains one plan (one seed); returns its manifest record (with the error if it failed)."""
    from d2l_lightning.cli import run as run_cli

    args = ["fit", "--config", str(REPO / plan.config), *shlex.split(plan.args),
            "--trainer.default_root_dir", str(out), *QUIET,
            *(["--seed_everything", str(seed)] if seed is not None else []), *extra]
    record = {"section": plan.section, "config": plan.config, "args": plan.args, "book": plan.book,
              "seed": seed, "date": date.today().isoformat(), "run_dir": None, "device": None, "error": None}
    start = time.perf_counter()
    try:
        run_dir, text = run_cli(args)
        print(text, end="", flush=True)
        record["run_dir"] = str(Path(run_dir).resolve())  # --from works from any folder
        record["device"] = describe_device(run_dir)
    except (Exception, SystemExit) as e:  # one failed run must not end the session
        record["error"] = " ".join(f"{type(e).__name__}: {e}".split())[:300]
        print(f"{plan.config}: failed ({record['error']})", flush=True)
    record["wall_s"] = round(time.perf_counter() - start, 2)
    return record


def final_metrics(run_dir: Path) -> tuple[dict[str, float], float | None, int]:
    """The last epoch's headline metrics, the median epoch time and the number of epochs."""
    from d2l_lightning.plots import epoch_table

    if not (run_dir / "metrics.csv").is_file():  # stopped before it logged anything
        return {}, None, 0
    table = epoch_table(run_dir / "metrics.csv")
    if table.empty:
        return {}, None, 0
    last = table.iloc[-1]
    metrics = {k: float(last[k]) for k in HEADLINE if k in table and not math.isnan(last[k])}
    times = table["train/epoch_time"].dropna().tolist() if "train/epoch_time" in table else []
    return metrics, (statistics.median(times) if times else None), len(table)


def _fmt(name: str, value: float) -> str:
    return f"{value:.6g}" if "loss" in name else f"{value:.4g}"


def seed_of(record: dict) -> str:
    """The run's seed: --seeds', else the config's own, as the run saved it."""
    if record["seed"] is not None:
        return str(record["seed"])
    return str(saved_config(Path(record["run_dir"])).get("seed_everything", "—")) if record["run_dir"] else "—"


def page_rows(records: list[dict]) -> list[list[str]]:
    """Rows of the page: one per config (+ args), seeds together; the latest session's run wins."""
    units: dict[tuple[str, str], list[dict]] = {}
    for record in records:
        key = (record["config"], record["args"])
        units.setdefault(key, [])
        units[key] = [r for r in units[key] if r["seed"] != record["seed"]] + [record]
    rows = []
    for (config, args), runs in units.items():
        done = [(r, *final_metrics(Path(r["run_dir"]))) for r in runs if r["run_dir"] and not r["error"]]
        done = [d for d in done if d[1]]
        failed = [r for r in runs if r["error"]]
        if done:
            first_run, first, _, _ = done[0]
            key = next(iter(first))
            values = [m[key] for _, m, _, _ in done if key in m]
            if len(values) > 1:
                sd = statistics.stdev(values)
                ours = (f"{key} {_fmt(key, statistics.mean(values))} ± {_fmt(key, sd)} "
                        f"[{_fmt(key, min(values))}, {_fmt(key, max(values))}]")
            else:
                ours = "; ".join(f"{k} {_fmt(k, v)}" for k, v in list(first.items())[:SHOWN])
            ours += f" after {done[0][3]} epochs"
            times = [t for _, _, t, _ in done if t is not None]
            s_epoch = f"{statistics.median(times):.3g}" if times else "—"
            device = first_run["device"] or "—"
        else:
            ours, s_epoch, device = "—", "—", "—"
        if failed:
            ours += f" ({len(failed)} run(s) failed: {failed[-1]['error']})"
        seeds = " ".join(seed_of(r) for r in runs)
        cell = f"[`{config}`](../{config})" + (f" `{args}`" if args else "")
        rows.append([runs[0]["section"], cell, runs[0]["book"], ours, seeds, device, s_epoch,
                     max(r["date"] for r in runs)])
    return rows


def write_page(records: list[dict], page: Path, command: str) -> Path:
    body = [[results_page._cell(c) if i != 1 else c for i, c in enumerate(row)] for row in page_rows(records)]
    table = results_page._table(COLUMNS, body)
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(
        "# Reproduced: the configs run again, as measured\n\n"
        "Generated by `scripts/reproduce.py` from the runs' `metrics.csv`; do not edit (rerun the script).\n"
        "\"Ours\" is the last epoch's headline metrics (with several seeds: mean ± sd [min, max] of the\n"
        "first), s/epoch the median training epoch's wall time, the device the run trained on (on a CPU\n"
        "shared with other jobs the times are upper bounds; the load average is given where recorded).\n"
        "The hand-written results, with the notes on each comparison, are in [results.md](results.md).\n\n"
        f"Command: `{command}`\n\n{table}\n", encoding="utf-8")
    return page


def plot_chapters(records: list[dict], out: Path) -> list[Path]:
    """`out/chNN_curves.png`: per chapter, a panel per config with its headline metric per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from d2l_lightning.plots import curve_table

    chapters: dict[str, list[dict]] = {}
    for r in records:
        if r["run_dir"] and not r["error"] and (Path(r["run_dir"]) / "metrics.csv").is_file():
            chapters.setdefault(Path(r["config"]).parent.name, []).append(r)
    written = []
    for chapter, runs in sorted(chapters.items()):
        ncols = min(4, len(runs))
        nrows = math.ceil(len(runs) / ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.8 * nrows), squeeze=False)
        for ax, r in zip(axes.flat, runs):
            table = curve_table(Path(r["run_dir"]) / "metrics.csv")
            name = next((k.split("/", 1)[1] for k in HEADLINE if k in table), None)
            for stage, style in (("train", "-"), ("val", "--")):
                col = f"{stage}/{name}"
                if name and col in table and table[col].notna().any():
                    series = table[col].dropna()
                    ax.plot(series.index, series.values, style, marker="." if len(series) < 3 else None,
                            label=stage)
            seed = "" if r["seed"] is None else f", seed {r['seed']}"
            ax.set_title(f"{Path(r['config']).stem}{seed}", fontsize=8)
            ax.set_xlabel("epoch")
            ax.set_ylabel(name or "")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        for ax in list(axes.flat)[len(runs):]:
            ax.axis("off")
        fig.tight_layout()
        path = out / f"{chapter}_curves.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


def read_records(paths: list[Path]) -> list[dict]:
    return [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("configs", nargs="*", type=Path, help="configs to run (default: those of --budget)")
    parser.add_argument("--budget", choices=["cpu", "gpu"], default=None,
                        help="cpu: the configs whose measured CPU time fits --cpu_minutes; gpu: every config")
    parser.add_argument("--cpu_minutes", type=float, default=CPU_MINUTES,
                        help=f"a config's time limit for the cpu budget (default {CPU_MINUTES:g})")
    parser.add_argument("--chapters", type=int, nargs="+", default=None, help="only these chapters (e.g. 3 7)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="run each config once per seed (default: the config's own seed)")
    parser.add_argument("--list", action="store_true", help="print the plan and run nothing")
    parser.add_argument("--out", type=Path, default=None,
                        help="run folder (default logs/reproduce/<date-time>)")
    parser.add_argument("--page", type=Path, default=PAGE, help="the page written (default docs/reproduced.md)")
    parser.add_argument("--from", dest="from_", type=Path, nargs="+", default=None,
                        help="rewrite the page from these runs.jsonl files, training nothing")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                        help="arguments appended to every run (e.g. --config configs/trainer/gpu.yaml)")
    args = parser.parse_args(argv)
    command = "python scripts/reproduce.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    if args.from_:
        records = read_records(args.from_)
        print(f"wrote {write_page(records, args.page, command)}")
        return records
    if not args.configs and not args.budget:
        parser.error("give configs or --budget cpu|gpu")
    configs = [c if c.exists() or c.is_absolute() else REPO / c for c in args.configs]  # repo-relative too
    selected = plans(configs or chapter_configs(args.chapters))
    if args.budget:
        selected = [p for p in selected if p.fits(args.budget, args.cpu_minutes)]
    for p in selected:
        took = "not measured" if p.cpu_minutes is None else f"~{p.cpu_minutes * 60:.0f} s" \
            if p.cpu_minutes < 1 else f"~{p.cpu_minutes:.0f} min"
        print(f"{p.config} {p.args}".rstrip() + f"  ({p.epochs} epochs; {took} on a 2-core CPU)")
    if args.list:
        return []
    out = args.out or REPO / "logs" / "reproduce" / datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for plan in selected:
        for seed in args.seeds or [None]:
            records.append(run_one(plan, seed, out, args.extra))
            with open(out / "runs.jsonl", "a") as f:
                f.write(json.dumps(records[-1]) + "\n")
            write_page(records, args.page, command)  # after every run: a partial session still reports
    for png in plot_chapters(records, out):
        print(f"curves: {png}")
    print(f"wrote {args.page} ({len(records)} runs; runs in {out})")
    return records


if __name__ == "__main__":
    main()
