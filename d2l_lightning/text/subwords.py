"""10.4 fastText: a word as the set of its character n-grams (subwords).

The book explains fastText without code. A word is wrapped in the boundary markers `<` and `>`
(so a prefix "<wh" differs from the same letters inside a word), cut into every n-gram for each n
(fastText uses n = 3..6), and the marked whole word "<where>" is added as a subword of its own.
The word's vector is then the sum of its subwords' vectors (`subword_ids` gives the rows to sum,
e.g. with `nn.EmbeddingBag(mode="sum")`).

The book prints the trigrams of "where" as "<wh>", "whe", "her", "ere", "<re>"; the trigrams of
"<where>" are "<wh" and "re>" at the ends (a trigram has three characters).
"""

from collections.abc import Iterable, Sequence

from d2l_lightning.errors import ConfigError

BOW, EOW = "<", ">"
#: fastText's default n-gram lengths
FASTTEXT_NS = (3, 4, 5, 6)


def subwords(word: str, ns: int | Iterable[int] = FASTTEXT_NS) -> list[str]:
    """The subword set G_w of `word`: the n-grams of "<word>" for each n in `ns` (shortest first,
    left to right), then the special subword "<word>" itself. Repeats are left out (for a short
    word an n-gram can be the whole marked word), so the list is a set in a fixed order."""
    if not word:
        raise ConfigError("subwords need a non-empty word.")
    ns = [ns] if isinstance(ns, int) else list(ns)
    if not ns or any(not isinstance(n, int) or n < 1 for n in ns):
        raise ConfigError(f"n-gram lengths must be integers >= 1, got {ns!r}.")
    marked = f"{BOW}{word}{EOW}"
    grams = [marked[i: i + n] for n in sorted(set(ns)) for i in range(len(marked) - n + 1)]
    return list(dict.fromkeys([*grams, marked]))


def subword_ids(words: Sequence[str], subword_to_idx: dict[str, int],
                ns: int | Iterable[int] = FASTTEXT_NS) -> list[list[int]]:
    """For each word, the indices of its subwords that are in `subword_to_idx` (a subword
    vocabulary built from the training words); unseen n-grams of a new word are skipped, which is
    how fastText gives a vector to a word it never saw."""
    return [[subword_to_idx[s] for s in subwords(w, ns) if s in subword_to_idx] for w in words]
