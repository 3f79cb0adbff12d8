"""Write the results tables of README.md and docs/results.md from the chapter configs' headers.

The configs are the only place where a result is written by hand. Each chapter config
(configs/ch*/*.yaml) ends its header comment with one or more table rows:

    # Result: section  3.12 weight decay, scratch, λ=3      (starts a row; begins with the section number)
    # Result: args     --model.init_args.lambd 3             (optional: flags added to the config)
    # Result: book     ‖w‖ 0.035                             (the book's result; "—" if the book has none)
    # Result: ours     ‖w‖ 0.029; test loss 0.011            (ours, seed 0)
    # Result: seeds    0.819 ± 0.006 [0.810, 0.824]          (optional: mean ± sd [min, max] over seeds 0-4)
    # Result: s/epoch  0.05                                  (optional: seconds per epoch; "—" if absent)

Values are Markdown (`code`, **bold**); a `|` in a value is escaped for the table. Rows are sorted
by section number, scratch configs before concise ones, then by config name; a config's rows keep
their order. The full table goes between `<!-- results:begin -->` and `<!-- results:end -->` in
docs/results.md, the short index (section | config | book | ours) between
`<!-- results-index:begin -->` and `<!-- results-index:end -->` in README.md.

    python scripts/results_page.py           # rewrite both tables
    python scripts/results_page.py --check   # exit 1 naming the stale file if a table differs

A malformed block is an error naming the file and line (exit 2). Standard library only.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG_GLOB = "configs/ch*/*.yaml"
README = "README.md"
RESULTS = "docs/results.md"
MARKERS = {
    README: ("<!-- results-index:begin -->", "<!-- results-index:end -->"),
    RESULTS: ("<!-- results:begin -->", "<!-- results:end -->"),
}
KEYS = ("section", "args", "book", "ours", "seeds", "s/epoch")
REQUIRED = ("book", "ours")
PREFIX = "# Result:"
LINE = re.compile(r"^# Result: (\S+)[ \t]+(\S.*?)\s*$")
LOOSE = re.compile(r"^\s*#\s*Result\s*:")  # anything that looks like a result line must be one
NUMBER = re.compile(r"^\d+(\.\d+)+$")


class ResultsError(ValueError):
    """A config's result block is malformed, or a page lacks its markers."""


@dataclass
class Row:
    config: str  # path relative to the repository, posix
    section: str
    book: str
    ours: str
    args: str = ""
    seeds: str = ""
    s_epoch: str = "—"

    @property
    def number(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.section.split()[0].split("."))

    @property
    def sort_key(self) -> tuple:
        name = self.config.rsplit("/", 1)[-1]
        rank = 0 if "scratch" in name else 2 if "concise" in name else 1
        return (self.number, rank, name)


def section_number(path: Path) -> str:
    """'3.12' for configs/ch03/3.12_weight_decay.yaml."""
    number = path.name.split("_", 1)[0]
    if not NUMBER.match(number):
        raise ResultsError(f"{path}: the file name does not start with a section number like 3.12_")
    return number


def _relative(path: Path, repo: Path) -> str:
    try:
        return path.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def parse_config(path: Path, repo: Path = REPO) -> list[Row]:
    """The result rows of one config's header (its leading comment lines)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header_end = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    for i, line in enumerate(lines[header_end:], header_end + 1):
        if LOOSE.match(line):
            raise ResultsError(f"{path}:{i}: a '{PREFIX}' line must be in the header comment, before the YAML")
    number = section_number(path)
    config = _relative(path, repo)
    rows: list[dict[str, str]] = []
    starts: list[int] = []
    for i, line in enumerate(lines[:header_end], 1):
        if not LOOSE.match(line):
            continue
        match = LINE.match(line)
        if not match:
            raise ResultsError(f"{path}:{i}: expected '{PREFIX} <key> <value>', got {line!r}")
        key, value = match.groups()
        if key not in KEYS:
            raise ResultsError(f"{path}:{i}: unknown key {key!r} (keys: {', '.join(KEYS)})")
        if key == "section":
            if value.split()[0] != number:
                raise ResultsError(f"{path}:{i}: the section must start with {number}, "
                                   f"the file's section number")
            rows.append({})
            starts.append(i)
        elif not rows:
            raise ResultsError(f"{path}:{i}: '{key}' before the row's '{PREFIX} section' line")
        if key in rows[-1]:
            raise ResultsError(f"{path}:{i}: '{key}' given twice in one row")
        rows[-1][key] = value
    if not rows:
        raise ResultsError(f"{path}: no '{PREFIX} section ...' line in the header comment")
    for row, start in zip(rows, starts):
        missing = [key for key in REQUIRED if key not in row]
        if missing:
            raise ResultsError(f"{path}:{start}: the row lacks {' and '.join(missing)} (write 'book —' if the "
                               f"book has no result)")
    return [Row(config=config, section=row["section"], book=row["book"], ours=row["ours"],
                args=row.get("args", ""), seeds=row.get("seeds", ""), s_epoch=row.get("s/epoch", "—"))
            for row in rows]


def collect(repo: Path = REPO) -> list[Row]:
    """Every chapter config's rows, in table order."""
    paths = sorted(repo.glob(CONFIG_GLOB))
    if not paths:
        raise ResultsError(f"no chapter configs found under {repo / CONFIG_GLOB}")
    rows = [row for path in paths for row in parse_config(path, repo)]
    return sorted(rows, key=lambda row: row.sort_key)  # stable: a config's rows keep their order


def _cell(text: str) -> str:
    return text.replace("|", r"\|")


def _config_cell(row: Row, link_prefix: str) -> str:
    cell = f"[`{row.config}`]({link_prefix}{row.config})"
    return f"{cell} `{row.args}`" if row.args else cell


def _table(header: list[str], body: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"

    return "\n".join([line(header), line(["---"] * len(header)), *map(line, body)])


def full_table(rows: list[Row], link_prefix: str = "../") -> str:
    """docs/results.md's table: every column."""
    header = ["section", "config", "book (test acc / result)", "ours, seed 0", "ours, 5 seeds", "s/epoch"]
    return _table(header, [[_cell(r.section), _config_cell(r, link_prefix), _cell(r.book), _cell(r.ours),
                            _cell(r.seeds), _cell(r.s_epoch)] for r in rows])


def headline(text: str) -> str:
    """A result without its details: the text before its first parenthesis or semicolon (the
    per-epoch values and notes stay in docs/results.md)."""
    short = re.split(r" \(|; ", text, maxsplit=1)[0].strip()
    return short or text


def index_table(rows: list[Row], link_prefix: str = "") -> str:
    """README.md's short index (a front page): section, config file, book and ours as headlines."""
    header = ["section", "config", "book", "ours"]
    return _table(header, [[_cell(r.section), f"[`{Path(r.config).name}`]({link_prefix}{r.config})",
                            _cell(headline(r.book)), _cell(headline(r.ours))] for r in rows])


def replace_between(text: str, begin: str, end: str, body: str, name: str) -> str:
    """text with everything between the marker lines begin and end replaced by body."""
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ResultsError(f"{name}: needs exactly one '{begin}' followed by one '{end}'")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def render(repo: Path = REPO) -> dict[str, str]:
    """The up-to-date text of README.md and docs/results.md, by repository-relative name."""
    rows = collect(repo)
    tables = {README: index_table(rows, ""), RESULTS: full_table(rows, "../")}
    pages = {}
    for name, table in tables.items():
        path = repo / name
        if not path.is_file():
            raise ResultsError(f"{name}: no such file")
        pages[name] = replace_between(path.read_text(encoding="utf-8"), *MARKERS[name], table, name)
    return pages


def stale_files(repo: Path = REPO) -> list[str]:
    """The pages whose tables differ from what the configs say."""
    return [name for name, text in render(repo).items()
            if (repo / name).read_text(encoding="utf-8") != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if a page is stale")
    parser.add_argument("--repo", type=Path, default=REPO, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        pages = render(args.repo)
    except ResultsError as err:
        print(f"results_page: {err}", file=sys.stderr)
        return 2
    stale = [name for name, text in pages.items()
             if (args.repo / name).read_text(encoding="utf-8") != text]
    if args.check:
        if stale:
            print(f"results_page: {', '.join(stale)} out of date with the configs' '{PREFIX}' lines; "
                  f"run python scripts/results_page.py", file=sys.stderr)
            return 1
        return 0
    for name in stale:
        (args.repo / name).write_text(pages[name], encoding="utf-8")
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
