"""Hyperparameter sweeps on this machine, from the same file W&B's sweep agent reads.

    python scripts/sweep.py configs/sweeps/3.10_mlp_lr_hidden.yaml               # the file's method
    python scripts/sweep.py configs/sweeps/3.10_mlp_lr_hidden.yaml --method random --count 6 --seed 1
    python scripts/sweep.py configs/sweeps/7_optimizers_airfoil.yaml --gpus 0,1   # a run per GPU at a time
    python scripts/sweep.py configs/sweeps/3.10_mlp_lr_hidden.yaml --trainer.max_epochs 1   # CLI overrides

A sweep file (configs/sweeps/*.yaml) is in W&B's sweep format: `name`, `method` (grid, random),
`metric` (`name`: a logged metric such as `val/acc`, `goal`: minimize or maximize), `parameters`
(CLI option -> `values: [...]`, `value: x`, or a `distribution` with `min`/`max`) and `command`
(`python -m d2l_lightning fit --config ... ${args}`). The runner expands it (grid: every
combination of `values`; random: `--count` draws, seeded) and runs each combination through the
CLI with the swept options as `--key=value`, exactly what W&B's `${args}` macro passes; CLI options
given after the file apply to every run.

Runs are in-process, one after the other (with `--gpus 0,1`: one subprocess per GPU, each GPU
taking the next run when its run ends, `CUDA_VISIBLE_DEVICES` set). Each run is a normal run folder
`logs/<sweep name>/<time>/run<k>/` (its console output in `output.log`), in the W&B group
`<sweep name>-<time>` as `run<k> <swept values>`. Prints one line per run, the table of results (each
run's swept values and the metric's final and best values) and the best configuration, and writes
the table to `logs/<sweep name>/<time>/sweep.csv`. The best run is the one with the best final
value (`--rank-by best`: the best epoch, what W&B's bayes search and early termination use).
"""

import argparse
import contextlib
import csv
import functools
import io
import itertools
import json
import logging
import math
import os
import queue
import random
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's package

from d2l_lightning import loggers  # noqa: E402
from d2l_lightning.cli import D2LCLI, known_warnings_ignored  # noqa: E402
from d2l_lightning.errors import D2LError  # noqa: E402
from d2l_lightning.scripting import run_script  # noqa: E402

METHODS = ("grid", "random")
DISTRIBUTIONS = ("constant", "categorical", "int_uniform", "uniform", "q_uniform", "log_uniform",
                 "log_uniform_values", "q_log_uniform_values", "normal", "q_normal", "log_normal",
                 "q_log_normal")
# W&B command macros: `${args}` gives `--key=value` and `${args_no_equals}` `--key value`, both read by
# jsonargparse; `${args_no_hyphens}` (`key=value`), `${args_json}` and the Hydra forms are not
_OK_MACROS = {"${env}", "${interpreter}", "${args}", "${args_no_equals}"}
_LOGGERS_WITH_OUTPUT = ("pytorch_lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric",
                        "lightning")
RESULT_TAG = "SWEEP_RESULT "


class SweepFileError(SystemExit):
    def __init__(self, path, message: str):
        super().__init__(f"error: {path}: {message}")


# --- the sweep file ---------------------------------------------------------------------------------
@dataclass
class Sweep:
    path: Path
    name: str
    method: str
    metric: str
    goal: str  # minimize | maximize
    parameters: dict[str, dict]
    command: list[str]  # the CLI arguments of the file's command, macros removed: fit --config ...
    run_cap: int | None = None
    raw: dict = field(default_factory=dict)


def _cli_part(path, command: list) -> list[str]:
    """`${env} ${interpreter} -m d2l_lightning fit --config X ${args}` -> `fit --config X`."""
    words = [str(w) for w in command]
    bad = [w for w in words if w.startswith("${") and w not in _OK_MACROS]
    if bad:
        raise SweepFileError(path, f"command macro {bad[0]} gives options our CLI does not read; use "
                                   "${args} (--key=value)")
    if "${args}" not in words and "${args_no_equals}" not in words:
        raise SweepFileError(path, "its command must end with ${args} (the swept options as "
                                   "--key=value); found " + " ".join(words))
    if "d2l_lightning" not in words:
        raise SweepFileError(path, "its command must run `python -m d2l_lightning <fit|...> --config ...`")
    rest = [w for w in words[words.index("d2l_lightning") + 1:] if not w.startswith("${")]
    if not rest or rest[0] not in ("fit", "validate", "test"):
        raise SweepFileError(path, "the command after `-m d2l_lightning` must start with fit "
                                   "(or validate/test)")
    return rest


def _check_parameter(path, key: str, spec) -> None:
    if not isinstance(spec, dict):
        raise SweepFileError(path, f"parameter {key}: expected a mapping with value, values or distribution")
    dist = spec.get("distribution")
    if dist is not None and dist not in DISTRIBUTIONS:
        raise SweepFileError(path, f"parameter {key}: distribution {dist!r} is not run locally; use one of "
                                   f"{', '.join(DISTRIBUTIONS)}")
    if "values" in spec:
        if not isinstance(spec["values"], list) or not spec["values"]:
            raise SweepFileError(path, f"parameter {key}: values must be a non-empty list")
    elif "value" in spec:
        pass
    elif dist in ("normal", "q_normal", "log_normal", "q_log_normal"):
        if "mu" not in spec and "sigma" not in spec:
            raise SweepFileError(path, f"parameter {key}: {dist} needs mu and sigma")
    elif "min" not in spec or "max" not in spec:
        raise SweepFileError(path, f"parameter {key}: give values, value, or a distribution with min and max")
    elif not spec["min"] < spec["max"]:
        raise SweepFileError(path, f"parameter {key}: min must be less than max")


def load_sweep(path: str | Path) -> Sweep:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as e:
        raise SystemExit(f"error: sweep file {path}: {e.strerror}") from None
    if not isinstance(raw, dict):
        raise SweepFileError(path, "not a W&B sweep file (a YAML mapping)")
    method = raw.get("method", "grid")
    metric = raw.get("metric") or {}
    if not metric.get("name"):
        raise SweepFileError(path, "metric.name is missing (the logged metric to compare, e.g. val/acc)")
    goal = metric.get("goal", "minimize")
    if goal not in ("minimize", "maximize"):
        raise SweepFileError(path, f"metric.goal must be minimize or maximize, got {goal!r}")
    params = raw.get("parameters") or {}
    if not isinstance(params, dict) or not params:
        raise SweepFileError(path, "parameters is missing or empty")
    for key, spec in params.items():
        _check_parameter(path, key, spec)
    command = _cli_part(path, raw.get("command") or [])
    return Sweep(path=path, name=str(raw.get("name") or path.stem), method=method, metric=metric["name"],
                 goal=goal, parameters=params, command=command, run_cap=raw.get("run_cap"), raw=raw)


# --- expanding it into runs -------------------------------------------------------------------------
def _grid_values(path, key: str, spec: dict) -> list:
    if "values" in spec:
        return list(spec["values"])
    if "value" in spec:
        return [spec["value"]]
    if spec.get("distribution") == "int_uniform":
        return list(range(int(spec["min"]), int(spec["max"]) + 1))
    raise SweepFileError(path, f"grid needs values (or value) for every parameter; {key} has a "
                               f"{spec.get('distribution', 'uniform')} distribution: use --method random")


def _quantize(x: float, q: float) -> float:
    return round(round(x / q) * q, 12)


def draw(spec: dict, rng: random.Random):
    """One value of a parameter, as W&B's random search draws it."""
    if "value" in spec:
        return spec["value"]
    if "values" in spec:
        probs = spec.get("probabilities")
        return rng.choices(spec["values"], weights=probs)[0] if probs else rng.choice(spec["values"])
    dist = spec.get("distribution")
    lo, hi = spec.get("min"), spec.get("max")
    if dist is None:  # W&B infers it from min and max
        dist = "int_uniform" if isinstance(lo, int) and isinstance(hi, int) else "uniform"
    q = spec.get("q", 1.0)
    if dist == "int_uniform":
        return rng.randint(int(lo), int(hi))
    if dist in ("uniform", "q_uniform"):
        x = rng.uniform(lo, hi)
        return _quantize(x, q) if dist == "q_uniform" else x
    if dist == "log_uniform":  # min and max are natural logarithms
        return math.exp(rng.uniform(lo, hi))
    if dist in ("log_uniform_values", "q_log_uniform_values"):
        x = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        return _quantize(x, q) if dist.startswith("q_") else x
    mu, sigma = spec.get("mu", 0.0), spec.get("sigma", 1.0)
    x = rng.gauss(mu, sigma)
    if dist in ("log_normal", "q_log_normal"):
        x = math.exp(x)
    return _quantize(x, q) if dist.startswith("q_") else x


def expand(sweep: Sweep, method: str, count: int | None = None, seed: int = 0) -> list[dict]:
    """The runs of a sweep: a list of {option: value} in the file's parameter order."""
    keys = list(sweep.parameters)
    if method == "grid":
        grids = [_grid_values(sweep.path, k, sweep.parameters[k]) for k in keys]
        runs = [dict(zip(keys, combo)) for combo in itertools.product(*grids)]
        return runs[:count] if count else runs
    if method == "random":
        count = count or sweep.run_cap
        if not count:
            raise SystemExit("error: random search needs --count N (or run_cap in the sweep file)")
        rng = random.Random(seed)
        return [{k: draw(sweep.parameters[k], rng) for k in keys} for _ in range(count)]
    raise SystemExit(f"error: method {method!r} is not run locally (use grid or random); W&B's agent "
                     "runs bayes: wandb sweep <file>, then wandb agent <sweep id>")


def flags(values: dict) -> list[str]:
    """`--key=value` as W&B's `${args}` writes them (Python's str of the value)."""
    return [f"--{key}={value}" for key, value in values.items()]


def short_names(keys: list[str]) -> dict[str, str]:
    """The shortest dotted suffix that tells the options apart: `lr`, `num_hiddens`, `class_path`."""
    out = {}
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            name = ".".join(parts[-n:])
            if sum(k == name or k.endswith("." + name) for k in keys) == 1:
                break
        out[key] = name
    return out


def show(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text.rsplit(".", 1)[-1] if re.fullmatch(r"[\w.]+\.[A-Z]\w*", text) else text  # class paths


# --- running one configuration ----------------------------------------------------------------------
class NamedRunCLI(D2LCLI):
    """The CLI, with the W&B run name, group and extra tags a script chooses (a K-fold's `fold1` in
    the group of its folds, a sweep's `run3`); everything else as `python -m d2l_lightning`."""

    def __init__(self, *args, wandb_name: str | None = None, wandb_group: str | None = None,
                 wandb_tags: tuple[str, ...] = (), **kwargs):
        self.wandb_name, self.wandb_group, self.wandb_tags = wandb_name, wandb_group, tuple(wandb_tags)
        self.wandb: dict | None = None  # project, group, name, mode of this run's W&B logger, if any
        super().__init__(*args, **kwargs)

    def before_instantiate_classes(self) -> None:
        super().before_instantiate_classes()
        cfg = self.config[self.subcommand] if self.subcommand else self.config
        for lg in cfg.trainer.logger or []:
            if not str(lg.class_path).endswith("WandbLogger"):
                continue
            args = lg.init_args
            args.name = self.wandb_name or args.get("name")
            args.group = self.wandb_group or args.get("group")
            tags = list(args.get("tags") or [])
            args.tags = tags + [t for t in self.wandb_tags if t not in tags]
            self.wandb = {"project": args.get("project"), "group": args.group, "name": args.name,
                          "mode": (lg.get("dict_kwargs") or {}).get("mode", "offline")}


@contextlib.contextmanager
def captured_output(verbose: bool):
    """Unless verbose: what a run prints (epoch lines, data line, Lightning's device lines and
    warnings, W&B's messages) goes into the yielded buffer instead of the terminal. Logging levels
    and WANDB_SILENT that a run changes are put back either way."""
    loggers = [logging.getLogger(n) for n in _LOGGERS_WITH_OUTPUT]
    levels = [lg.level for lg in loggers]
    silent = os.environ.get("WANDB_SILENT")
    buffer = io.StringIO()
    streams = []
    try:
        if verbose:
            yield buffer
            return
        os.environ["WANDB_SILENT"] = "true"
        for lg in loggers:  # Lightning's own handlers hold the stderr of import time
            for handler in lg.handlers:
                if isinstance(handler, logging.StreamHandler):
                    streams.append((handler, handler.stream))
                    handler.stream = buffer  # (not setStream: it flushes the old one, maybe closed)
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            yield buffer
    finally:
        for handler, stream in streams:
            handler.stream = stream
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
        if silent is None:
            os.environ.pop("WANDB_SILENT", None)
        else:
            os.environ["WANDB_SILENT"] = silent


def save_output(run_dir: Path | None, text: str) -> bool:
    """Keeps what a run printed as `<run dir>/output.log`; False where there is no run folder."""
    if run_dir is None or not run_dir.is_dir():
        return False
    if text:  # (with --verbose it went to the terminal)
        (run_dir / "output.log").write_text(text)
    return True


@dataclass
class RunResult:
    run_dir: Path | None
    error: str | None
    seconds: float


def run_one(cli_args: list[str], wandb_name: str, wandb_group: str, tags: tuple[str, ...],
            verbose: bool = False, run_dir: Path | None = None) -> RunResult:
    """One CLI command in this process (`run_dir`: the folder its `--run_name`/`--run_version`
    give, where a failed run's output goes). What it printed is kept in `<run dir>/output.log`; an
    error (bad option, diverged training) is returned, not raised, so a sweep goes on."""
    start, cli, error = time.perf_counter(), None, None
    if verbose:
        cli_args = [*cli_args, "--quiet=false"]  # the CLI's own switch for Lightning's messages
    with captured_output(verbose) as out:
        try:
            with known_warnings_ignored():
                cli = NamedRunCLI(args=cli_args, wandb_name=wandb_name, wandb_group=wandb_group,
                                  wandb_tags=tags)
        except D2LError as e:
            error = str(e)
        except SystemExit as e:  # jsonargparse: an option that does not exist, a bad value
            error = f"the CLI stopped (exit {e.code})"
        except Exception as e:  # noqa: BLE001  (one failed run must not end the sweep)
            error = f"{type(e).__name__}: {e}"
        finally:
            if error is not None:
                loggers.close_wandb_run()
    run_dir = getattr(cli, "run_dir", None) or run_dir
    text = out.getvalue() + (f"\nerror: {error}\n" if error else "")
    if not save_output(run_dir, text) and error and not verbose:  # nowhere to keep it
        tail = out.getvalue().strip().splitlines()[-15:]
        print("\n".join("    " + line for line in tail), file=sys.stderr)
    if run_dir is not None and not run_dir.is_dir():
        run_dir = None
    return RunResult(run_dir, error, time.perf_counter() - start)


# --- results ----------------------------------------------------------------------------------------
def metric_values(run_dir: Path | None, metric: str, goal: str) -> tuple[float | None, float | None]:
    """(final, best) value of a metric in a run's metrics.csv; None where it was never logged."""
    if run_dir is None or not (run_dir / "metrics.csv").is_file():
        return None, None
    with open(run_dir / "metrics.csv", newline="") as f:
        values = [float(row[metric]) for row in csv.DictReader(f) if row.get(metric) not in (None, "")]
    if not values:
        return None, None
    finite = [v for v in values if math.isfinite(v)]
    best = (min(finite) if goal == "minimize" else max(finite)) if finite else None
    return values[-1], best


def best_row(rows: list[dict], column: str, goal: str) -> dict | None:
    """The run whose `column` (the final metric, or its best epoch) is best; None if none is finite."""
    ok = [r for r in rows if isinstance(r.get(column), float) and math.isfinite(r[column])]
    if not ok:
        return None
    pick = min if goal == "minimize" else max
    return pick(ok, key=lambda r: r[column])


def table_text(rows: list[dict], keys: list[str], metric: str) -> str:
    names = short_names(keys)
    header = ["run", *(names[k] for k in keys), f"{metric} (final)", f"{metric} (best)", "s", "status"]
    body = [[r["run"], *(show(r[k]) for k in keys),
             "-" if r[metric] is None else f"{r[metric]:.6g}",
             "-" if r[f"best {metric}"] is None else f"{r[f'best {metric}']:.6g}",
             f"{r['seconds']:.0f}", r["status"]] for r in rows]
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*line).rstrip() for line in [header, *body])


def write_csv(path: Path, rows: list[dict], keys: list[str], metric: str) -> None:
    columns = ["run", *keys, metric, f"best {metric}", "seconds", "status", "run_dir"]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({**r, "seconds": f"{r['seconds']:.1f}", "run_dir": str(r["run_dir"] or "")})


# --- the sweep --------------------------------------------------------------------------------------
def _default_root(overrides: list[str]) -> Path:
    root = "logs"
    for i, word in enumerate(overrides):
        if word == "--trainer.default_root_dir" and i + 1 < len(overrides):
            root = overrides[i + 1]
        elif word.startswith("--trainer.default_root_dir="):
            root = word.split("=", 1)[1]
    return Path(root)


def _resolve_configs(args: list[str]) -> list[str]:
    """`--config configs/...` in a sweep file is relative to the repository (where `wandb agent` is
    started); this runner finds it from any folder."""
    out = list(args)
    for i, word in enumerate(out[:-1]):
        if word == "--config" and not Path(out[i + 1]).exists() and (REPO / out[i + 1]).exists():
            out[i + 1] = str(REPO / out[i + 1])
    return out


def _new_sweep_dir(root: Path, name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for i in range(1000):
        path = root / name / (stamp if i == 0 else f"{stamp}-{i}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise SystemExit(f"error: cannot create a sweep folder under {root / name}")


def _run_jobs_on_gpus(jobs: list[dict], gpus: list[str], verbose: bool, report) -> list[RunResult]:
    """One worker subprocess per run, at most one per GPU at a time (CUDA_VISIBLE_DEVICES=<gpu>)."""
    todo: queue.Queue = queue.Queue()
    for i, job in enumerate(jobs):
        todo.put((i, job))
    results: list[RunResult | None] = [None] * len(jobs)
    lock = threading.Lock()

    def gpu_worker(gpu: str) -> None:
        while True:
            try:
                i, job = todo.get_nowait()
            except queue.Empty:
                return
            env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpu}
            env.pop("D2L_RUN_DIR", None)
            start = time.perf_counter()
            proc = subprocess.run(worker_command(job, verbose), env=env, text=True, capture_output=True)
            if verbose:
                with lock:
                    print(f"--- {job['run']} (GPU {gpu}) ---\n{proc.stdout}{proc.stderr}", flush=True)
            found = [json.loads(line[len(RESULT_TAG):]) for line in proc.stdout.splitlines()
                     if line.startswith(RESULT_TAG)]
            if found:
                r = found[-1]
                result = RunResult(Path(r["run_dir"]) if r["run_dir"] else None, r["error"], r["seconds"])
            else:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
                result = RunResult(None, f"worker exited with {proc.returncode}: " + " | ".join(tail),
                                   time.perf_counter() - start)
            with lock:
                results[i] = result
                report(job, result, gpu=gpu)

    threads = [threading.Thread(target=gpu_worker, args=(g,)) for g in gpus]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def worker_command(job: dict, verbose: bool) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps({**job, "verbose": verbose})]


def _worker(spec: str) -> None:
    job = json.loads(spec)
    result = run_one(job["args"], job["wandb_name"], job["wandb_group"], tuple(job["tags"]), job["verbose"],
                     Path(job["run_dir"]))
    print(RESULT_TAG + json.dumps({"run_dir": str(result.run_dir) if result.run_dir else None,
                                   "error": result.error, "seconds": result.seconds}), flush=True)


def report_line(sweep: Sweep, job: dict, result: RunResult, gpu: str | None = None) -> None:
    """The line printed when a run ends: its swept values and its final metric (or its error)."""
    final, _ = metric_values(result.run_dir, sweep.metric, sweep.goal)
    where_log = f" (see {result.run_dir / 'output.log'})" if result.run_dir else ""
    outcome = f"failed: {result.error.splitlines()[0][:100]}{where_log}" if result.error else (
        f"{sweep.metric} {final:.6g}" if final is not None else f"{sweep.metric} not logged")
    where = f", GPU {gpu}" if gpu is not None else ""
    print(f"{job['run']}  {job['label']}  {outcome}  ({result.seconds:.1f} s{where})", flush=True)


@dataclass
class SweepResults:
    sweep_dir: Path
    rows: list[dict]
    best: dict | None
    csv_path: Path
    text: str


def main(argv: list[str] | None = None) -> SweepResults:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter,
                                allow_abbrev=False)  # CLI options pass through whole
    p.add_argument("sweep_file", type=Path, help="a W&B sweep file (configs/sweeps/*.yaml)")
    p.add_argument("--method", choices=METHODS, default=None, help="default: the file's method")
    p.add_argument("--count", type=int, default=None,
                   help="random: number of runs (default: the file's run_cap); grid: the first N combinations")
    p.add_argument("--seed", type=int, default=0, help="seed of the random draws (default 0)")
    p.add_argument("--gpus", "--devices", default=None,
                   help="comma-separated GPU ids: runs in parallel, one subprocess per GPU (e.g. 0,1,2,3)")
    p.add_argument("--rank-by", choices=("final", "best"), default="final",
                   help="choose the best run by the metric's final value (default) or its best epoch "
                        "(what W&B's bayes search uses)")
    p.add_argument("--verbose", action="store_true",
                   help="show each run's epoch lines and Lightning's messages")
    args, overrides = p.parse_known_args(argv)
    if args.count is not None and args.count < 1:
        p.error("--count must be at least 1")
    sweep = load_sweep(args.sweep_file)
    method = args.method or sweep.method
    values = expand(sweep, method, args.count, args.seed)
    gpus = [g.strip() for g in args.gpus.split(",") if g.strip()] if args.gpus else []

    root = _default_root(overrides)
    sweep_dir = _new_sweep_dir(root, sweep.name)
    group = f"{sweep.name}-{sweep_dir.name}"
    keys = list(sweep.parameters)
    names = short_names(keys)
    quiet = [] if args.verbose else ["--trainer.enable_progress_bar=false"]
    jobs = []
    for k, vals in enumerate(values, start=1):
        run = f"run{k}"
        cli_args = [*_resolve_configs(sweep.command), *quiet, *overrides, *flags(vals),
                    "--trainer.default_root_dir", str(root),
                    "--run_name", sweep.name, "--run_version", f"{sweep_dir.name}/{run}"]
        label = " ".join(f"{names[k_]}={show(v)}" for k_, v in vals.items())
        jobs.append({"run": run, "values": vals, "label": label, "args": cli_args,
                     "wandb_name": f"{run} {label}", "wandb_group": group, "tags": ["sweep", sweep.name],
                     "run_dir": str(sweep_dir / run)})

    report = functools.partial(report_line, sweep)
    print(f"sweep {sweep.name}: {method}, {len(jobs)} runs, metric {sweep.metric} ({sweep.goal}), "
          f"W&B group {group}" + (f", GPUs {','.join(gpus)}" if gpus else ""), flush=True)
    if gpus:
        results = _run_jobs_on_gpus(jobs, gpus, args.verbose, report)
    else:
        results = []
        for job in jobs:
            result = run_one(job["args"], job["wandb_name"], job["wandb_group"], tuple(job["tags"]),
                             args.verbose, Path(job["run_dir"]))
            results.append(result)
            report(job, result)

    rows = []
    for job, result in zip(jobs, results):
        final, best = metric_values(result.run_dir, sweep.metric, sweep.goal)
        status = "failed: " + result.error.splitlines()[0][:80] if result.error else (
            "ok" if final is not None else "metric not logged")
        rows.append({"run": job["run"], **job["values"], sweep.metric: final, f"best {sweep.metric}": best,
                     "seconds": result.seconds, "status": status, "run_dir": result.run_dir})
    csv_path = sweep_dir / "sweep.csv"
    write_csv(csv_path, rows, keys, sweep.metric)
    column = sweep.metric if args.rank_by == "final" else f"best {sweep.metric}"
    best = best_row(rows, column, sweep.goal)
    lines = ["", table_text(rows, keys, sweep.metric), ""]
    if best is None:
        lines.append(f"no run logged a finite {sweep.metric}")
    else:
        best_flags = " ".join(flags({k: best[k] for k in keys}))
        lines += [f"best: {best['run']}, {column} {best[column]:.6g} ({sweep.goal}): {best_flags}",
                  f"  rerun: python -m d2l_lightning {' '.join(sweep.command)} {best_flags}",
                  f"  its config: {best['run_dir'] / 'config.yaml'}"]
    lines.append(f"table: {csv_path}")
    text = "\n".join(lines)
    print(text, flush=True)
    return SweepResults(sweep_dir, rows, best, csv_path, text)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        _worker(sys.argv[2])
    else:
        run_script(main)
