"""User-facing errors: one clear paragraph, shown without a traceback by the CLI."""


class D2LError(Exception):
    """Bad input or environment the user can fix; the message says what was wrong and how to fix it."""


class DataError(D2LError):
    """A dataset could not be found, verified or downloaded."""


class ConfigError(D2LError, ValueError):
    """A hyperparameter or option is out of range or inconsistent."""


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
