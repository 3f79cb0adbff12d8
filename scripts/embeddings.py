"""10.6 pretrained GloVe vectors from the command line: nearest words and analogies.

    python scripts/embeddings.py similar chip baby beautiful [-k 3]
    python scripts/embeddings.py analogy man woman son [beijing china tokyo ...]

`similar` prints the k words nearest to each word by cosine similarity (the book's
`get_similar_tokens`: `cosine sim=0.856: chips`); `analogy` takes words in threes a b c and prints
`a : b :: c : d`, d being the word nearest to vec(b) - vec(a) + vec(c) (`get_analogy`).
The vectors are GloVe 6B 50d from the data folder (`--data_dir`, else $D2L_DATA_DIR, else ./data;
`glove/glove.6B.50d.txt.gz` or `.txt`); `--glove` names others (`glove.6B.100d`) or a file.
The first load parses the file (seconds) and caches it; later ones take a fraction of a second.
A word GloVe does not know is a one-line error naming it.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package

from d2l_lightning.datamodules.glove_files import find_glove  # noqa: E402
from d2l_lightning.errors import ConfigError  # noqa: E402
from d2l_lightning.scripting import run_script  # noqa: E402
from d2l_lightning.text.embedding import TokenEmbedding, get_analogy, get_similar_tokens  # noqa: E402


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("command", choices=("similar", "analogy"))
    parser.add_argument("words", nargs="+", help="similar: query words; analogy: words in threes a b c")
    parser.add_argument("-k", type=int, default=3, help="similar: how many neighbours (book: 3)")
    parser.add_argument("--glove", default="glove.6B.50d",
                        help="vectors: a name looked up in <data_dir>/glove/, or a GloVe text file")
    parser.add_argument("--data_dir", default=None, help="data folder (default: $D2L_DATA_DIR, else ./data)")
    args = parser.parse_args(argv)
    if args.k < 1:
        parser.error("-k must be at least 1")
    if args.command == "analogy" and len(args.words) % 3:
        parser.error(f"analogy takes words in threes (a b c for a : b :: c : ?), got {len(args.words)}")

    embed = TokenEmbedding(find_glove(args.glove, args.data_dir))
    unknown = [w for w in dict.fromkeys(args.words) if w not in embed]
    if unknown:
        raise ConfigError(f"{', '.join(map(repr, unknown))} {'is' if len(unknown) == 1 else 'are'} not in "
                          f"{embed.path.name} ({len(embed) - 1} words; GloVe 6B is lower-case).")
    lines = []
    if args.command == "similar":
        for word in args.words:
            lines.append(f"{word}:")
            lines += [f"  cosine sim={c:.3f}: {token}" for token, c in get_similar_tokens(word, args.k, embed)]
    else:
        for a, b, c in zip(*[iter(args.words)] * 3):
            lines.append(f"{a} : {b} :: {c} : {get_analogy(a, b, c, embed)}")
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    run_script(main)
