"""Chapter 7's 2-D (and 1-D) optimizer trajectories, with the same optimizer classes that train
the models, and 7.1's figures.

    python scripts/trajectory.py --optimizer SGD --hp lr=0.1                               # 7.2
    python scripts/trajectory.py --optimizer Momentum --objective flat --hp lr=0.4 momentum=0.5  # 7.4
    python scripts/trajectory.py --optimizer AdaGrad --objective flat --hp lr=2            # 7.5
    python scripts/trajectory.py --optimizer torch.optim.RMSprop --objective flat --hp lr=0.4 alpha=0.9
    python scripts/trajectory.py --one-d --optimizer SGD --hp lr=0.2                       # 7.2, f = x^2
    python scripts/trajectory.py --book-figures figures/                                   # 7.1

Prints the book's line (`epoch 20, x1 -0.057646, x2 -0.000073`) and writes the contour plot with
the path (default `logs/trajectory.png`).
"""

import argparse
import functools
import importlib
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package

from d2l_lightning import optim  # noqa: E402
from d2l_lightning.scripting import int_at_least, output_dir, output_file, run_script  # noqa: E402
from d2l_lightning.trajectories import (  # noqa: E402
    OBJECTIVES,
    book_figures_7_1,
    run_optimizer,
    show_trace_1d,
    show_trace_2d,
    trace_line,
)


def optimizer_class(name: str):
    if name in optim.__all__:
        return getattr(optim, name)
    module, _, cls = name.rpartition(".")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError, ValueError):
        raise SystemExit(f"error: unknown optimizer {name!r}; use one of {', '.join(optim.__all__)} "
                         "or a class path such as torch.optim.SGD") from None


def parse_hp(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            out[key] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key:
            raise SystemExit(f"error: --hp takes key=number pairs, got {item!r}")
    return out


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--optimizer", default="SGD", help="d2l_lightning.optim class name or a class path")
    p.add_argument("--hp", nargs="*", default=[], help="hyperparameters as key=value (lr=0.4 ...)")
    p.add_argument("--objective", choices=sorted(OBJECTIVES), default="elliptic",
                   help="elliptic: x1^2 + 2 x2^2 (7.2); flat: 0.1 x1^2 + 2 x2^2 (7.4-7.6)")
    p.add_argument("--x0", nargs="+", type=float, default=None, help="start (default -5 -2; 1-D: 10)")
    p.add_argument("--steps", type=int_at_least(1, 100_000), default=None, help="steps (default 20; 1-D: 10)")
    p.add_argument("--one-d", action="store_true", help="minimise f(x) = x^2 instead (7.2)")
    p.add_argument("--out", type=output_file, default="logs/trajectory.png", help="PNG to write")
    p.add_argument("--book-figures", metavar="DIR", type=output_dir,
                   help="write 7.1's figures into DIR and stop")
    args = p.parse_args(argv)
    if args.x0 is not None and len(args.x0) != (1 if args.one_d else 2):
        p.error(f"--x0 takes {'one number (1-D)' if args.one_d else 'two numbers (x1 x2)'}, got {len(args.x0)}")
    if args.x0 is not None and not all(math.isfinite(v) for v in args.x0):
        p.error("--x0 must be finite numbers")
    if args.book_figures:
        paths = book_figures_7_1(args.book_figures)
        print("\n".join(f"wrote {path}" for path in paths))
        return ""
    cls, hp = optimizer_class(args.optimizer), parse_hp(args.hp)
    make = functools.partial(cls, **hp)  # params -> optimizer
    try:
        make([torch.zeros(1, requires_grad=True)])  # bad hyperparameters fail here
    except (TypeError, ValueError) as e:
        raise SystemExit(f"error: {args.optimizer}({', '.join(args.hp)}): {e}") from None
    if args.one_d:
        def square(x):
            return x**2

        trace = run_optimizer(make, square, args.x0 or [10.0], args.steps or 10)
        line = f"epoch {len(trace) - 1}, x {trace[-1][0]!r}"
        show_trace_1d(square, trace, args.out, title=f"{args.optimizer} {' '.join(args.hp)}, f(x) = x^2")
    else:
        trace = run_optimizer(make, OBJECTIVES[args.objective], args.x0 or [-5.0, -2.0], args.steps or 20)
        line = trace_line(trace)
        show_trace_2d(args.objective, trace, args.out,
                      title=f"{args.optimizer} {' '.join(args.hp)}, {args.objective} objective")
    print(line)
    print(f"wrote {args.out}")
    return line


if __name__ == "__main__":
    run_script(main)
