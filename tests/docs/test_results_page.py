"""The results tables of README.md and docs/results.md are generated from the chapter configs'
`# Result:` header lines by scripts/results_page.py: they must be up to date, every chapter config
must have its block, a malformed block must be refused, and the pages' relative links must resolve."""

import importlib.util
import re
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "results_page.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("results_page", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


rp = _load_script()
CHAPTER_CONFIGS = sorted(REPO.glob(rp.CONFIG_GLOB))
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_readme_and_results_page_are_up_to_date():
    assert rp.stale_files(REPO) == [], "run: python scripts/results_page.py"


def test_every_chapter_config_has_a_section_and_a_book_line():
    assert len(CHAPTER_CONFIGS) >= 40
    tabled = {row.config for row in rp.collect(REPO)}
    for path in CHAPTER_CONFIGS:
        rows = rp.parse_config(path, REPO)
        assert rows, path
        for row in rows:
            assert row.section.split()[0] == path.name.split("_")[0], path
            assert row.book and row.ours, path  # "—" where the book has no result
        assert path.relative_to(REPO).as_posix() in tabled
    beyond = {row.config for row in rp.collect(REPO) if row.book == "—"}
    assert "configs/ch06/6.9_deep_gru.yaml" in beyond


GOOD = """# 3.7 Softmax regression, concise.
# Book: lr 0.1 -> test acc 0.823.
# Result: section  3.7 softmax regression, concise
# Result: book     0.823 (train acc 0.838)
# Result: ours     0.824 | 0.825
# Result: s/epoch  0.4
# Result: section  3.7 softmax regression, concise, lr 0.2
# Result: args     --model.init_args.optimizer.init_args.lr 0.2
# Result: book     —
# Result: ours     0.83
seed_everything: 0
"""


def test_parser_reads_a_block(tmp_path):
    path = tmp_path / "3.7_softmax.yaml"
    path.write_text(GOOD, encoding="utf-8")
    first, second = rp.parse_config(path, tmp_path)
    assert (first.section, first.book, first.ours, first.seeds, first.s_epoch) == (
        "3.7 softmax regression, concise", "0.823 (train acc 0.838)", "0.824 | 0.825", "", "0.4")
    assert second.args == "--model.init_args.optimizer.init_args.lr 0.2" and second.s_epoch == "—"
    assert r"0.824 \| 0.825" in rp.full_table([first, second])  # a pipe cannot split a cell


@pytest.mark.parametrize("old, new, message", [
    ("# Result: book     0.823 (train acc 0.838)\n", "", "lacks book"),
    ("# Result: s/epoch  0.4", "# Result: speed 0.4", "unknown key"),
    ("# Result: s/epoch  0.4", "# Result: ours 0.9", "given twice"),
    ("# Result: s/epoch  0.4", "# Result: s/epoch", "expected"),
    ("# Result: s/epoch  0.4", "#Result:s/epoch 0.4", "expected"),
    ("# Result: section  3.7 softmax regression, concise\n", "", "before the row's"),
    ("# Result: section  3.7 softmax regression, concise,", "# Result: section  3.8 softmax regression,",
     "must start with 3.7"),
    ("seed_everything: 0\n", "seed_everything: 0\n# Result: book 0.9\n", "in the header comment"),
])
def test_parser_rejects_a_malformed_block(tmp_path, old, new, message):
    assert old in GOOD
    path = tmp_path / "3.7_softmax.yaml"
    path.write_text(GOOD.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(rp.ResultsError, match=message):
        rp.parse_config(path, tmp_path)


def test_parser_rejects_a_config_without_a_block(tmp_path):
    path = tmp_path / "3.7_softmax.yaml"
    path.write_text("# 3.7 Softmax regression.\n# Book: test acc 0.823.\nseed_everything: 0\n",
                    encoding="utf-8")
    with pytest.raises(rp.ResultsError, match="no '# Result: section"):
        rp.parse_config(path, tmp_path)


def test_check_names_the_stale_page(tmp_path, capsys):
    for name in ("configs", "docs"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("*.png"))
    shutil.copy(REPO / "README.md", tmp_path / "README.md")
    assert rp.main(["--check", "--repo", str(tmp_path)]) == 0
    config = tmp_path / "configs" / "ch03" / "3.7_softmax.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("# Result: ours     0.824", "# Result: ours     0.9"), encoding="utf-8")
    assert rp.main(["--check", "--repo", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "README.md, docs/results.md" in err
    assert rp.main(["--repo", str(tmp_path)]) == 0  # rewrites both
    assert rp.main(["--check", "--repo", str(tmp_path)]) == 0
    assert "| 0.9 |" in (tmp_path / "README.md").read_text(encoding="utf-8")  # the headline only
    assert "| 0.9 (train acc 0.836) |" in (tmp_path / "docs" / "results.md").read_text(encoding="utf-8")


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#+ (.+)$", text, flags=re.M)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_resolve(page):
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        assert path.exists(), f"{page.name}: broken link {target}"
        if anchor:
            assert anchor in _anchors(path), f"{page.name}: no heading for {target}"
