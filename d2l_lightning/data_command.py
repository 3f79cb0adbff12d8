"""`python -m d2l_lightning data --config C [--config C ...] [--data_dir DIR] [--check]`: fetches and
verifies every dataset the configs need into one data folder (before a cluster's compute nodes go
offline), then reports each file: ok (checksum verified), missing or corrupt. `--check`, or
`D2L_OFFLINE=1`, only verifies. Exit status 0 when every dataset is ready, else 1.

A data module lists its files with `data_files()`: a list of `DataFile`s, where a tuple of them means
"any one of these" (the first with a download URL is fetched when none is there). A data module
without that method is prepared as training would prepare it (`prepare_data()`, `setup("fit")`)
and reported as a whole.
"""

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from d2l_lightning.datamodules.download import data_root, fetch, file_states
from d2l_lightning.errors import ConfigError, D2LError, DataError


@dataclass
class Needed:
    """One dataset some configs need: its data module and the configs that use it."""

    datamodule: object
    configs: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return type(self.datamodule).__name__


def datamodules(configs: list[str]) -> list[Needed]:
    """The data module of each config that has a `data:` section (presets without one are skipped;
    one with init_args only changes the data module of the config before it, as on the CLI).
    Configs that need the same dataset with the same options share one entry."""
    from jsonargparse import ArgumentParser

    import d2l_lightning.datamodules  # noqa: F401  (registers the short class names)
    from d2l_lightning.core import D2LDataModule

    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(D2LDataModule, "data", required=True)
    needed: dict[str, Needed] = {}
    last = None
    for config in configs:
        path = Path(config)
        if not path.is_file():
            raise ConfigError(f"no config file {config}. Give the path of a config, e.g. "
                              "--config configs/ch03/3.7_softmax.yaml.")
        try:
            section = (yaml.safe_load(path.read_text()) or {}).get("data")
        except (yaml.YAMLError, AttributeError) as e:
            raise ConfigError(f"{config} is not a YAML mapping of config sections ({e}).") from None
        if section is None:
            continue
        if "class_path" not in section and last is None:
            raise ConfigError(f"{config} changes data options but no config before it names a data class. "
                              "Put the chapter config first.")
        try:
            base = last if "class_path" not in section else None
            last = parser.parse_object({"data": section}, namespace=base)
            data = parser.instantiate(last).data
        except Exception as e:  # jsonargparse's errors (unknown class, bad option) and the module's own
            if isinstance(e, D2LError):
                raise
            raise ConfigError(f"{config}: its data section cannot be built ({e}).") from None
        key = yaml.safe_dump(last.data.as_dict() if hasattr(last.data, "as_dict") else str(last.data))
        needed.setdefault(key, Needed(data)).configs.append(config)
    return list(needed.values())


@contextlib.contextmanager
def offline() -> Iterator[None]:
    old = os.environ.get("D2L_OFFLINE")
    os.environ["D2L_OFFLINE"] = "1"
    try:
        yield
    finally:
        if old is None:
            del os.environ["D2L_OFFLINE"]
        else:
            os.environ["D2L_OFFLINE"] = old


def _overrides(module, name: str) -> bool:
    import pytorch_lightning as pl

    return getattr(type(module), name) is not getattr(pl.LightningDataModule, name)


def report_declared(item: Needed, entries: list, data_dir: str | None, fetching: bool) -> tuple[list[str], int]:
    """Lines about each declared file (fetching missing and corrupt ones first when `fetching`),
    and how many are not ready."""
    lines, bad = [], 0
    for entry in entries:
        choices = tuple(entry) if isinstance(entry, (tuple, list)) else (entry,)
        states = file_states(choices, data_dir)
        failure = ""
        if fetching and not any(s.ok for s in states):
            source = next((f for f in choices if f.urls), choices[0])
            try:
                fetch(item.name, [source], data_dir, verbose=False)
            except DataError as e:
                failure = str(e)
            states = file_states(choices, data_dir)
        good = [s for s in states if s.ok]
        shown = good[0] if good else next((s for s in states if s.state == "corrupt"), states[0])
        alternatives = f" (one of {', '.join(f.path for f in choices)})" if len(choices) > 1 else ""
        lines.append(f"  {shown.state:<8} {shown.file.path}{alternatives}: {shown.detail}")
        if not good:
            bad += 1
            if failure:
                lines.append(f"           {failure}")
    if fetching and not bad and _overrides(item.datamodule, "prepare_data"):
        try:  # unpacking and the like, now that the files are there
            item.datamodule.prepare_data()
        except DataError as e:
            lines.append(f"  error    prepare_data: {e}")
            bad += 1
    return lines, bad


def report_undeclared(item: Needed, fetching: bool) -> tuple[list[str], int]:
    """A data module that lists no files: prepared as for training (offline when only checking)."""
    dm = item.datamodule
    try:
        with contextlib.nullcontext() if fetching else offline():
            dm.prepare_data()
            dm.setup("fit")
    except DataError as e:
        return [f"  missing  (its files are not declared; loading it failed) {e}"], 1
    return ["  ok       (its files are not declared: it loaded)"], 0


def run(configs: list[str], data_dir: str | None = None, check: bool = False) -> int:
    """Prints the report; returns the exit status (0: every dataset ready)."""
    check = check or os.environ.get("D2L_OFFLINE", "") not in ("", "0")
    items = datamodules(configs)
    if data_dir is not None:
        for item in items:
            item.datamodule.data_dir = data_dir
    root, origin = (Path(data_dir).expanduser(), "--data_dir") if data_dir else data_root(None)
    mode = "checking only" if check else "fetching what is missing"
    print(f"data folder: {root.resolve()} ({origin}); {mode}")
    total_bad = 0
    for item in items:
        more = f", +{len(item.configs) - 1} more" if len(item.configs) > 1 else ""
        print(f"{item.name} ({item.configs[0]}{more})")
        files = getattr(item.datamodule, "data_files", None)
        entries = files() if callable(files) else None
        if entries is None:
            lines, bad = report_undeclared(item, fetching=not check)
        else:
            lines, bad = report_declared(item, entries, item.datamodule.data_dir, fetching=not check)
            lines = lines or ["  ok       (needs no files)"]
        print("\n".join(lines))
        total_bad += bad
    if not items:
        print("no config names a data module (configs with a `data:` section are the chapter configs)")
    if total_bad:
        how = ("run it without --check (and without D2L_OFFLINE) where the network is reachable"
               if check else "see the messages above")
        print(f"not ready: {total_bad} missing or corrupt (a file, or a data module that lists none); {how}")
        return 1
    print("ready: every dataset is there and verified")
    return 0


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m d2l_lightning data",
        description="Fetch and verify the datasets of configs into one data folder (for offline nodes).")
    parser.add_argument("--config", action="append", required=True,
                        help="a config (repeat for several); the datasets of all of them are prepared")
    parser.add_argument("--data_dir", help="the data folder (default: $D2L_DATA_DIR, else ./data)")
    parser.add_argument("--check", action="store_true",
                        help="only verify what is there; download nothing (also when D2L_OFFLINE=1)")
    args = parser.parse_args(argv)
    try:
        status = run(args.config, args.data_dir, args.check)
    except D2LError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    raise SystemExit(status)

