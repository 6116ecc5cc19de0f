"""The King James Bible as a PTB-style word-level language-model corpus (default-scale text).

Source: the ``bible`` command of the Debian package ``bible-kjv`` (``bible -f gen1:1-rev22:21``, one verse a
line, e.g. ``Ge1:1 In the beginning ...``), or a file ``<data_root>/kjv/kjv.txt`` in the same format.

Preprocessing, in order:
1. strip the verse reference (``<book><chapter>:<verse>``) at the start of each line; the book is kept for
   the split;
2. lower-case; tokenise into words (letters, with inner hyphens: ``brick-kiln``), the possessive ``'s``,
   and every other non-space character as a single token (``, . : ; ? ! ( ) '``);
3. append ``<eos>`` after each verse;
4. split by whole books, deterministically: in the canonical order (index i from 0 = Genesis), books with
   i % 11 == 2 are ``valid`` (Lev, 2Chr, Lam, Zep, 2Cor, Heb) and i % 11 == 7 are ``test`` (Ruth, Psa,
   Amos, Mark, 1Th, 2Jn), each about 8.5 % of the tokens; all others are ``train``;
5. vocabulary from the train split, capped at 10,000 types including ``<eos>`` and ``<unk>``
   (see :mod:`pipeline.data.text`); rarer words become ``<unk>``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from pipeline.data.bundle import DatasetBundle, DatasetMissingError
from pipeline.data.text import EOS, build_vocab, numericalize, unk_rate

VALID_BOOKS = ("Lev", "2Chr", "Lam", "Zep", "2Cor", "Heb")
TEST_BOOKS = ("Ruth", "Psa", "Amos", "Mark", "1Th", "2Jn")
VOCAB_SIZE = 10_000
BIBLE_ARGS = ("bible", "-f", "gen1:1-rev22:21")

_REFERENCE = re.compile(r"^(\d?[A-Za-z]+)(\d+):(\d+)\s+")
_TOKEN = re.compile(r"[a-z]+(?:-[a-z]+)*|'s\b|[^\sa-z]")


def read_text(data_root: Path | None) -> tuple[str, str]:
    """The verse-per-line text and its origin (``<data_root>/kjv/kjv.txt``, else the bible command)."""
    if data_root is not None and (Path(data_root) / "kjv" / "kjv.txt").is_file():
        path = Path(data_root) / "kjv" / "kjv.txt"
        return path.read_text(encoding="utf-8"), str(path)
    if shutil.which(BIBLE_ARGS[0]) is None:
        hint = Path(data_root) / "kjv" / "kjv.txt" if data_root else "<data_root>/kjv/kjv.txt"
        raise DatasetMissingError(
            f"kjv: the `bible` command is missing and there is no {hint}; install the Debian package "
            "bible-kjv (make run does) or set data_root (config key data_root, --data-root)"
        )
    done = subprocess.run(BIBLE_ARGS, capture_output=True, text=True, check=True)
    return done.stdout, " ".join(BIBLE_ARGS)


def tokenize_verse(text: str) -> list[str]:
    """Lower-cased PTB-style word tokens of one verse (without ``<eos>``)."""
    return _TOKEN.findall(text.lower())


def parse_verses(text: str) -> list[tuple[str, list[str]]]:
    """``(book, tokens + [<eos>])`` per verse line; a non-blank line without a reference is an error."""
    verses = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _REFERENCE.match(line)
        if match is None:
            raise ValueError(f"kjv: line {number} has no verse reference: {line[:60]!r}")
        verses.append((match.group(1), [*tokenize_verse(line[match.end() :]), EOS]))
    return verses


def split_of(book: str) -> str:
    """``train``, ``valid`` or ``test`` for a book abbreviation as printed by ``bible``."""
    return "valid" if book in VALID_BOOKS else "test" if book in TEST_BOOKS else "train"


def load(
    data_root: Path | None = None, download: bool = False, vocab_size: int = VOCAB_SIZE
) -> DatasetBundle:
    """The KJV bundle: token streams ``train/valid/test`` and the vocabulary."""
    text, source = read_text(data_root)
    streams: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    books: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    for book, tokens in parse_verses(text):
        split = split_of(book)
        streams[split].extend(tokens)
        if not books[split] or books[split][-1] != book:
            books[split].append(book)
    vocab = build_vocab(streams["train"], max_size=vocab_size)
    tensors = {split: numericalize(tokens, vocab) for split, tokens in streams.items()}
    meta = {
        "kind": "text",
        "vocab_size": len(vocab),
        "verses": sum(1 for split in streams.values() for token in split if token == EOS),
        "types_in_corpus": len({token for split in streams.values() for token in split}),
        "unk_rate": {split: round(unk_rate(ids), 6) for split, ids in tensors.items()},
        "books": {split: names for split, names in books.items()},
        "source": source,
        "preprocessing": "strip verse reference; lower-case; words, 's and punctuation as tokens; <eos> per "
        f"verse; split by book (valid {', '.join(VALID_BOOKS)}; test {', '.join(TEST_BOOKS)}); "
        f"vocab from train capped at {vocab_size} incl. <eos>, <unk>",
    }
    return DatasetBundle("kjv", tensors, meta, vocab)
