"""What every script under `scripts/` shares: argument types that refuse values out of range (a
usage error naming the option, exit 2), output paths that must sit in an existing folder, and
`run_script`, which turns a known failure class into one paragraph and exit status 1 (as the CLI
does, through `errors.explain`), while a bug keeps its traceback."""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from d2l_lightning.errors import explain

#: where scripts write by default: beside the runs, never into the repository's own folders
DEFAULT_OUT_DIR = Path("logs")


def int_at_least(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse `type`: a whole number in [low, high]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value
    return parse


def output_file(text: str) -> Path:
    """An argparse `type` for a file to write: its folder must exist (a mistyped folder is an error,
    not a new tree of folders); `logs/`, where scripts write by default, is created."""
    path = Path(text).expanduser()
    if path.parent == DEFAULT_OUT_DIR:
        DEFAULT_OUT_DIR.mkdir(exist_ok=True)
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"the folder {path.parent} does not exist; create it first or "
                                         "choose another path")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a folder; give a file name such as {path / 'out.png'}")
    return path


def output_dir(text: str) -> Path:
    """An argparse `type` for a folder to write into (created): it, or at least its parent, must
    exist."""
    path = Path(text).expanduser()
    if not path.is_dir() and not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"neither {path} nor its parent folder exists; create it first "
                                         "or choose another folder")
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a file, not a folder")
    return path


def run_script(main: Callable[..., Any], argv: list[str] | None = None) -> Any:
    """Runs a script's `main(argv)`: a known failure class (bad input, a missing file, a full
    disk ...) is one paragraph on stderr and exit status 1; anything else shows its traceback."""
    try:
        return main(argv) if argv is not None else main()
    except Exception as e:
        user_error = explain(e)
        if user_error is None:
            raise
        print(f"error: {user_error}", file=sys.stderr)
        raise SystemExit(1) from None
