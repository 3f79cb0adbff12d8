"""Where GloVe's pretrained word vectors are (10.6-10.8), verified like every other data file.

A name such as `glove.6B.50d` is looked up in `<data folder>/glove/` as `glove.6B.50d.txt.gz` or
`glove.6B.50d.txt`, each verified by the MD5 of the original text file (a `.gz` by its
decompressed content, so any gzip of the original passes). When neither is there, Stanford's
`glove.6B.zip` (822 MB, all four 6B sizes) is downloaded into the same folder, verified, and the
requested text file is extracted from it. A path to a file of one's own is used as given.
"""

import os
import shutil
import sys
import zipfile
from pathlib import Path

from d2l_lightning.datamodules.download import DataFile, _verify, data_root, fetch
from d2l_lightning.errors import DataError

#: MD5 of Stanford's text files inside glove.6B.zip (the 50d one checked against ../shared/data)
TEXT_MD5 = {
    "glove.6B.50d": "0fac3659c38a4c0e9432fe603de60b12",
    "glove.6B.100d": "dd7f3ad906768166883176d69cc028de",
    "glove.6B.200d": "49fa83e4a287c42c6921f296a458eb80",
    "glove.6B.300d": "b78f53fb56ec1ce9edc367d2e6186ba4",
}
GLOVE_6B_ZIP = DataFile("glove/glove.6B.zip", "md5:056ea991adb4740ac6bf1b6d9b50408b",
                        urls=("https://nlp.stanford.edu/data/glove.6B.zip",
                              "https://downloads.cs.stanford.edu/nlp/data/glove.6B.zip"))


def glove_candidates(name: str) -> list[DataFile]:
    """The files that hold the vectors `name`, in the order they are looked for."""
    text = f"md5:{TEXT_MD5[name]}"
    # a .gz is checked by its decompressed bytes (its own bytes depend on how it was compressed)
    return [DataFile(f"glove/{name}.txt.gz", text, content_checksum=text), DataFile(f"glove/{name}.txt", text)]


def is_path(glove: str) -> bool:
    return os.sep in glove or "/" in glove or glove.endswith((".txt", ".gz"))


def find_glove(glove: str, data_dir: str | os.PathLike | None = None, verify: bool = True) -> Path:
    """The verified file of the GloVe vectors `glove`: a name (`glove.6B.50d`, `glove.6B.100d`,
    ...; see the module docstring) or a path to a GloVe text file of one's own (used as given)."""
    if is_path(glove):
        path = Path(glove).expanduser()
        if not path.is_file():
            raise DataError(f"GloVe: no file {path}. Pass a GloVe text file (.txt or .txt.gz) or a name "
                            f"({', '.join(TEXT_MD5)}) looked up in the data folder's glove/.")
        print(f"data: GloVe: {path} used as given (a file of one's own is not verified)", file=sys.stderr)
        return path
    if glove not in TEXT_MD5:
        raise DataError(f"GloVe: unknown vectors {glove!r}; known: {', '.join(TEXT_MD5)} (or pass a path "
                        "to a GloVe text file).")
    root, origin = data_root(data_dir)
    candidates = glove_candidates(glove)
    if not verify:  # (test fixtures and own copies: the first one present, unverified)
        for f in candidates:
            if (root / f.path).is_file():
                return root / f.path
        missing = " and ".join(str(root / f.path) for f in candidates)
        raise DataError(f"GloVe: missing {missing} (checksum=false looks only in the data folder, {root} "
                        f"from {origin}).")
    problems = []
    for f in candidates:
        if (root / f.path).is_file():
            try:
                return fetch("GloVe", [f], data_dir)[f.path]
            except DataError as e:
                problems.append(str(e))
    try:
        archive = fetch("GloVe", [GLOVE_6B_ZIP], data_dir)[GLOVE_6B_ZIP.path]
    except DataError as e:
        looked = "; ".join(f"{root / f.path}: missing" for f in candidates if not (root / f.path).is_file())
        raise DataError(" ".join(problems + [f"GloVe: no {glove}.txt(.gz) in {root / 'glove'} ({origin}): "
                                             f"{looked}. {e}"])) from None
    return _extract(archive, candidates[1], root)


def _extract(archive: Path, f: DataFile, root: Path) -> Path:
    """`f` out of glove.6B.zip, written beside it through a temporary file, then verified."""
    target = root / f.path
    tmp = target.with_name(f"{target.name}.part-{os.getpid()}")
    try:
        with zipfile.ZipFile(archive) as z, z.open(target.name) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        problem = _verify(tmp, f.checksum)
        if problem:
            raise DataError(f"GloVe: {target.name} extracted from {archive} failed verification: {problem}.")
        os.replace(tmp, target)
    except (OSError, KeyError, zipfile.BadZipFile) as e:
        raise DataError(f"GloVe: cannot extract {target.name} from {archive} ({e}).") from None
    finally:
        tmp.unlink(missing_ok=True)
    print(f"data: GloVe: {target.name} extracted from {archive.name}", file=sys.stderr)
    return target
