"""scripts/embeddings.py (10.6 from the command line), run in-process as `python scripts/...` would
(`runpy`, `__main__`): nearest words and analogies on a tiny GloVe file found through
$D2L_DATA_DIR or --data_dir, a one-line error for an unknown word, and the book's tables on the
real GloVe 6B 50d file (`slow`)."""

import runpy
import sys

import pytest
from conftest import SHARED_DATA
from helpers.cli import REPO
from helpers.fakedata import make_glove

SCRIPT = str(REPO / "scripts" / "embeddings.py")


def run_script(monkeypatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", [SCRIPT, *args])
    try:
        runpy.run_path(SCRIPT, run_name="__main__")
    except SystemExit as e:
        return e.code or 0
    return 0


@pytest.fixture(scope="module")
def glove_dir(tmp_path_factory):
    return make_glove(tmp_path_factory.mktemp("glove"))


def test_similar_and_analogy(glove_dir, monkeypatch, capsys):
    # the tiny file is not Stanford's: --glove names it as a file of one's own (used unverified)
    own = str(glove_dir / "glove" / "glove.6B.50d.txt.gz")
    assert run_script(monkeypatch, "similar", "great", "bad", "-k", "2", "--glove", own) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "great:" and lines[3] == "bad:" and len(lines) == 6
    assert all(line.startswith("  cosine sim=") for line in lines[1:3] + lines[4:6])
    # positive words point one way along the first axis and negative ones the other way
    assert all(line.split(": ")[1] in ("wonderful", "loved", "best", "beautiful") for line in lines[1:3])
    assert run_script(monkeypatch, "analogy", "bad", "great", "awful", "--glove", own) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("bad : great :: awful : ")


def test_unknown_word_and_missing_data_are_one_line_errors(glove_dir, monkeypatch, capsys):
    monkeypatch.setenv("D2L_DATA_DIR", str(glove_dir / "nowhere"))
    own = str(glove_dir / "glove" / "glove.6B.50d.txt.gz")
    assert run_script(monkeypatch, "similar", "great", "qwxzqv", "--glove", own) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("error: 'qwxzqv' is not in glove.6B.50d.txt.gz")
    assert "Traceback" not in err
    assert run_script(monkeypatch, "similar", "chip") == 1  # default vectors looked up in $D2L_DATA_DIR
    err = capsys.readouterr().err
    assert err.startswith("error: GloVe: no glove.6B.50d.txt(.gz) in") and str(glove_dir / "nowhere") in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert run_script(monkeypatch, "analogy", "a", "b") == 2  # argparse: words in threes
    assert "threes" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "glove").is_dir(), reason="GloVe 6B 50d (../shared/data) not present")
def test_the_books_tables(monkeypatch, capsys):
    assert run_script(monkeypatch, "similar", "chip", "baby", "beautiful", "--data_dir", str(SHARED_DATA)) == 0
    assert capsys.readouterr().out.splitlines() == [
        "chip:", "  cosine sim=0.856: chips", "  cosine sim=0.749: intel", "  cosine sim=0.749: electronics",
        "baby:", "  cosine sim=0.839: babies", "  cosine sim=0.800: boy", "  cosine sim=0.792: girl",
        "beautiful:", "  cosine sim=0.921: lovely", "  cosine sim=0.893: gorgeous",
        "  cosine sim=0.830: wonderful"]
    monkeypatch.setenv("D2L_DATA_DIR", str(SHARED_DATA))
    assert run_script(monkeypatch, "analogy", "man", "woman", "son", "beijing", "china", "tokyo",
                      "bad", "worst", "big", "do", "did", "go") == 0
    assert capsys.readouterr().out.splitlines() == [
        "man : woman :: son : daughter", "beijing : china :: tokyo : japan", "bad : worst :: big : biggest",
        "do : did :: go : went"]
