"""Writers of tiny dataset files in each real format, for the loader tests (no real data needed).

The paper-scale formats (CIFAR-10, STL-10, the text corpora) are written by :mod:`pipeline.data.fixtures`,
which the paper-scale check shares; this module adds the tiny PTB lines and the KJV text.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.data import fixtures
from pipeline.data.fixtures import write_cifar10, write_fashion_mnist, write_idx, write_stl10

__all__ = [
    "write_cifar10",
    "write_fashion_mnist",
    "write_idx",
    "write_kjv",
    "write_stl10",
    "write_text_corpus",
]


PTB_LINES = {
    "train": [" the cat sat on the mat ", " the dog sat <unk> ", " a cat ran "],
    "valid": [" the cat ran ", " a bird sat "],
    "test": [" the mat sat on a dog "],
}


def write_text_corpus(root: Path, layout: str, lines: dict | None = None) -> dict:
    """Three split files under ``root`` following ``layout`` (e.g. ``ptb/ptb.{split}.txt``)."""
    return fixtures.write_text_corpus(root, layout, lines or PTB_LINES)


KJV_VERSES = [
    "Ge1:1 In the beginning God created the heaven and the earth.",
    "Ge1:2 And the earth was without form, and void; and darkness was upon the face of the deep.",
    "Lev1:1 And the LORD called unto Moses, and spake unto him out of the tabernacle.",
    "Ruth1:1 Now it came to pass in the days when the judges ruled, that there was a famine.",
    "1Sm1:1 Now there was a certain man of Ramathaim-zophim, of mount Ephraim: the king's son.",
    "Rev22:21 The grace of our Lord Jesus Christ be with you all. Amen.",
]


def write_kjv(root: Path, verses: list[str] | None = None) -> Path:
    """``root/kjv/kjv.txt`` in the format of ``bible -f`` (one verse a line, reference first)."""
    path = root / "kjv" / "kjv.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(verses or KJV_VERSES) + "\n", encoding="utf-8")
    return path
