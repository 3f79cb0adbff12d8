"""User-facing errors: one clear paragraph, shown without a traceback by the CLI."""

import errno
import sys


class D2LError(Exception):
    """Bad input or environment the user can fix; the message says what was wrong and how to fix it."""


class DataError(D2LError):
    """A dataset could not be found, verified or downloaded."""


class ConfigError(D2LError, ValueError):
    """A hyperparameter or option is out of range or inconsistent."""


class ConfigFileError(ConfigError):
    """A `--config` file that cannot be read as YAML: a usage error, exit status 2 like the parser's."""

    exit_status = 2


class TrainingDiverged(D2LError):
    """The loss became NaN or infinite."""


class CheckpointError(D2LError):
    """A checkpoint path that cannot be used: missing, unreadable, or of another model."""


_BOUNDS = {">": (lambda v, b: v > b, "greater than"), ">=": (lambda v, b: v >= b, "at least"),
           "<": (lambda v, b: v < b, "less than"), "<=": (lambda v, b: v <= b, "at most")}


def check_range(name: str, value, allowed: str, hint: str = "", *, none_ok: bool = False) -> None:
    """Raises a `ConfigError` unless `value` lies in `allowed`, written as a bound (`">= 1"`,
    `"> 0"`) or an interval (`"[0, 1)"`, `"(0, 1]"`); the message names the option, the allowed
    range and the value, then `hint` (how to fix it). `none_ok`: None is allowed too."""
    if value is None and none_ok:
        return
    spec = allowed.strip()
    if spec[0] in "[(":
        lo, hi = (float(x) for x in spec[1:-1].split(","))
        ok = value is not None and (value >= lo if spec[0] == "[" else value > lo) and \
            (value <= hi if spec[-1] == "]" else value < hi)
        words = f"in {spec}"
    else:
        op, bound = spec.split()
        test, text = _BOUNDS[op]
        ok = value is not None and test(value, float(bound))
        words = f"{text} {bound}"
    if not ok:
        or_none = " (or null)" if none_ok else ""
        raise ConfigError(f"{name} must be {words}{or_none}, got {value!r}." + (f" {hint}" if hint else ""))


# --- known failure classes -> one paragraph ---------------------------------------------------------
# Each class below is a mistake or a state of the machine the user can fix; anything else is a bug
# and keeps its traceback. `explain` is the one place that decides (the CLI and every script use it).

_OS_ERRORS = {  # errno -> how to fix it
    errno.ENOSPC: "The disk is full: free space, or write runs elsewhere (--trainer.default_root_dir).",
    errno.EDQUOT: "The disk quota is exhausted: free space, or write runs elsewhere "
                  "(--trainer.default_root_dir).",
    errno.EROFS: "That file system is read-only: choose a writable folder (--trainer.default_root_dir "
                 "for runs, --data.init_args.data_dir for data).",
    errno.EACCES: "Permission denied: fix the permissions (chmod/chown) or choose another folder.",
    errno.EPERM: "Operation not permitted: fix the permissions or choose another folder.",
    errno.ENAMETOOLONG: "The path is too long: choose a shorter run name or folder.",
    errno.ENOTDIR: "A part of the path is a file, not a folder: check the path.",
    errno.EISDIR: "The path is a folder where a file was expected: check the path.",
}


def _first_line(text: str, limit: int = 300) -> str:
    line = (str(text).strip().splitlines() or [""])[0]
    return line if len(line) <= limit else line[:limit] + "..."


def _chain(e: BaseException | None):
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def explain(e: BaseException) -> D2LError | None:
    """The user-facing error for exception `e` (searched along its cause chain), or None when `e`
    is not a known failure class (a bug: let it show its traceback)."""
    for err in _chain(e):
        if isinstance(err, D2LError):
            return err
    for err in _chain(e):
        if isinstance(err, OSError) and err.errno in _OS_ERRORS:
            where = f" ({err.filename})" if err.filename else ""
            return D2LError(f"{err.strerror or type(err).__name__}{where}. {_OS_ERRORS[err.errno]}")
        if _is_lightning_misconfiguration(err):
            return ConfigError(f"Lightning refused the settings: {_first_line(err)}{_trainer_hint(str(err))}")
        if isinstance(err, UnicodeDecodeError):
            return DataError(f"a file that should be UTF-8 text is not ({_first_line(err)}). Save it as "
                             "UTF-8, or check that the path points at the file you meant.")
        if _is_wandb_error(err):
            return D2LError(f"W&B failed: {_first_line(err)}. Without a network or an account, log offline "
                            "(unset WANDB_MODE or set WANDB_MODE=offline; upload later with `wandb sync`), or "
                            "use configs/logger/csv.yaml.")
        if _is_pandas_parse_error(err):
            return DataError(f"a data table could not be read: {_first_line(err)}. The file is empty or "
                             "not in the expected format; with checksum: false nothing verified it, so "
                             "replace it with a good copy or turn the checksum back on.")
    return None


def _is_lightning_misconfiguration(e: BaseException) -> bool:
    try:
        from lightning_fabric.utilities.exceptions import MisconfigurationException
    except ImportError:  # pragma: no cover (Lightning is a dependency)
        return False
    return isinstance(e, MisconfigurationException)


def _is_wandb_error(e: BaseException) -> bool:
    wandb = sys.modules.get("wandb.errors")  # only loaded when a run used W&B
    return wandb is not None and isinstance(e, wandb.Error)


def _is_pandas_parse_error(e: BaseException) -> bool:
    try:
        from pandas.errors import EmptyDataError, ParserError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(e, (EmptyDataError, ParserError))


def _trainer_hint(message: str) -> str:
    text = message.lower()
    if any(k in text for k in ("gpu", "cuda", "mps")) and any(
            k in text for k in ("not available", "no supported", "found")):
        return (" This machine has no such accelerator: drop configs/trainer/gpu.yaml (or bf16.yaml) "
                "or pass --trainer.accelerator cpu.")
    return " Check the --trainer.* options (or the configs/trainer preset) it names."
