"""Finding, verifying and downloading dataset files.

Lookup order for the data folder: `--data.data_dir` > `$D2L_DATA_DIR` > `./data`. Inside it files
sit where they sit in `../shared/data` (torchvision layout for Fashion-MNIST). A file found there
(or where a system package installs it) is checksum-verified; a missing or corrupt one is
downloaded from its canonical source into a temporary file next to it, verified, and only then
moved into place, so a failed download never overwrites or truncates anything. `D2L_OFFLINE=1`
skips downloading. When nothing works, one error names every place looked at, the expected file
and checksum, and how to fix it.
"""

import gzip
import hashlib
import os
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from d2l_lightning.errors import DataError


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset.

    Args:
        path: path relative to the data folder (e.g. `FashionMNIST/raw/t10k-labels-idx1-ubyte.gz`).
        checksum: `"<algorithm>:<hex digest>"`, e.g. `"md5:bb30..."` or `"sha256:1e18..."`.
        urls: canonical download locations, tried in order.
        system_paths: where an operating-system package installs the same file.
        content_checksum: for `.gz` files, the checksum of the decompressed bytes; a copy whose
            gzip header differs but whose content is identical (Debian's package rewrites the
            headers) is accepted by it.
    """

    path: str
    checksum: str
    urls: tuple[str, ...] = ()
    system_paths: tuple[str, ...] = field(default=())
    content_checksum: str | None = None


def data_root(data_dir: str | os.PathLike | None = None) -> tuple[Path, str]:
    """The data folder and where that choice came from."""
    if data_dir:
        return Path(data_dir).expanduser(), "--data.data_dir"
    env = os.environ.get("D2L_DATA_DIR")
    if env:
        return Path(env).expanduser(), "$D2L_DATA_DIR"
    return Path("data"), "default ./data"


def file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_VERIFIED: set[tuple] = set()  # (path, size, mtime, checksums) already verified in this process


def _verify(path: Path, checksum: str, content_checksum: str | None = None) -> str | None:
    """None when `path` matches `checksum` (or its decompressed bytes match `content_checksum`),
    else what is wrong with it. A file verified before and unchanged since is not hashed again
    (prepare_data and setup, and every run in one process, check the same files)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, checksum, content_checksum)
    if key in _VERIFIED:
        return None
    problem = _verify_uncached(path, checksum, content_checksum)
    if problem is None:
        _VERIFIED.add(key)
    return problem


def _verify_uncached(path: Path, checksum: str, content_checksum: str | None) -> str | None:
    algorithm, expected = checksum.split(":", 1)
    actual = file_digest(path, algorithm)
    if actual == expected:
        return None
    if content_checksum and path.suffix == ".gz":
        content_algorithm, content_expected = content_checksum.split(":", 1)
        h = hashlib.new(content_algorithm)
        try:
            with gzip.open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            if h.hexdigest() == content_expected:
                return None
        except (OSError, EOFError):
            pass
    return (f"checksum mismatch ({algorithm} {actual}, {path.stat().st_size} bytes; the file is corrupt, "
            "truncated or a different version)")


def _download(url: str, dest: Path, checksum: str) -> None:
    """Download `url` to `dest` atomically: write `dest.part-<pid>`, verify, rename."""
    tmp = dest.with_name(f"{dest.name}.part-{os.getpid()}")
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with open(tmp, "wb") as out, tqdm(total=total, unit="B", unit_scale=True,
                                               desc=f"downloading {dest.name}", file=sys.stderr,
                                               leave=False) as bar:
                for chunk in iter(lambda: response.read(1 << 16), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        problem = _verify(tmp, checksum)
        if problem:
            raise DataError(f"the downloaded file failed verification: {problem}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def fetch(dataset: str, files: list[DataFile], data_dir: str | os.PathLike | None = None,
          verbose: bool = True, verify: bool = True) -> dict[str, Path]:
    """Returns `{file.path: local path}` for every file, verified; raises `DataError` otherwise.
    Prints one line saying where the data came from. `verify=False` (a data module's
    `checksum: false`, for test fixtures and own copies) only looks in the data folder."""
    root, origin = data_root(data_dir)
    if not verify:
        paths = {f.path: root / f.path for f in files}
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise DataError(f"{dataset}: missing {', '.join(missing)} (checksum=false looks only in the "
                            f"data folder, {root} from {origin}). Put the files there or turn checksum "
                            "back on.")
        return paths
    paths, sources = {}, []
    for f in files:
        path, source = _fetch_one(dataset, f, root, origin)
        paths[f.path] = path
        sources.append(source)
    if verbose:
        how = sorted(set(sources))
        print(f"data: {dataset}: {len(files)} file(s) verified, {'; '.join(how)}", file=sys.stderr)
    return paths


def _fetch_one(dataset: str, f: DataFile, root: Path, origin: str) -> tuple[Path, str]:
    looked: list[str] = []
    target = root / f.path
    corrupt = False
    if target.is_file():
        problem = _verify(target, f.checksum, f.content_checksum)
        if problem is None:
            return target, f"found in {root} ({origin})"
        corrupt = True
        looked.append(f"{target} ({origin}): {problem}")
    else:
        looked.append(f"{target} ({origin}): missing")

    for sys_path in map(Path, f.system_paths):
        if sys_path.is_file() and _verify(sys_path, f.checksum, f.content_checksum) is None:
            return sys_path, f"found in system package folder {sys_path.parent}"
        looked.append(f"{sys_path} (system package): "
                      f"{'checksum mismatch' if sys_path.is_file() else 'missing'}")

    if os.environ.get("D2L_OFFLINE", "") not in ("", "0"):
        looked.append("download: skipped because D2L_OFFLINE is set")
    else:
        created = [p for p in (target.parent, *target.parent.parents) if not p.exists()]
        for url in f.urls:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                _download(url, target, f.checksum)
                return target, f"downloaded to {root} ({origin})"
            except (OSError, ValueError, DataError) as e:  # URLError and timeouts are OSErrors
                looked.append(f"download from {url}: {getattr(e, 'reason', None) or e}")
        for folder in created:  # a failed download (a mistyped data_dir, say) leaves no folders behind
            try:
                folder.rmdir()
            except OSError:
                break

    algorithm, digest = f.checksum.split(":", 1)
    fix = (f"Put the real file ({algorithm} {digest}) at {target}, point $D2L_DATA_DIR or "
           "--data.data_dir at a folder laid out like ../shared/data that has it, or rerun with "
           "network access to download it.")
    if corrupt:
        fix += f" The corrupt file at {target} was left untouched; delete it once you have a good copy."
    raise DataError(f"{dataset}: cannot get {f.path}. Looked at: " + "; ".join(looked) + ". " + fix)


@dataclass(frozen=True)
class FileState:
    """Where one dataset file stands in a data folder (what `python -m d2l_lightning data` reports)."""

    file: DataFile
    state: str  # "ok", "missing" or "corrupt"
    detail: str

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def file_states(files: tuple[DataFile, ...] | list[DataFile],
                data_dir: str | os.PathLike | None = None) -> list[FileState]:
    """The state of each file in the data folder (or a system package's copy), verified by its
    checksum; downloads nothing."""
    root, _ = data_root(data_dir)
    states = []
    for f in files:
        algorithm = f.checksum.split(":", 1)[0]
        target = root / f.path
        if target.is_file():
            problem = _verify(target, f.checksum, f.content_checksum)
            states.append(FileState(f, "corrupt", f"{target}: {problem}") if problem else
                          FileState(f, "ok", f"{algorithm} verified"))
            continue
        system = [Path(p) for p in f.system_paths if Path(p).is_file()]
        good = [p for p in system if _verify(p, f.checksum, f.content_checksum) is None]
        states.append(FileState(f, "ok", f"{algorithm} verified, the system package's copy at {good[0]}")
                      if good else FileState(f, "missing", f"not in {root}; expected {f.checksum}"))
    return states
