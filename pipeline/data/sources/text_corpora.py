"""Penn TreeBank and WikiText-2 (paper-scale language-model corpora) from their standard files.

Files searched under ``data_root`` (first complete set wins):

- ``ptb``: ``ptb/ptb.{train,valid,test}.txt`` (Mikolov's simple-examples), ``ptb/{split}.txt`` or
  ``penn/{split}.txt`` (the AWD-LSTM layout);
- ``wikitext2``: ``wikitext-2/wiki.{train,valid,test}.tokens`` (the tokenised release) or
  ``wikitext-2/{split}.txt``.

Preprocessing (as PyTorch's word_language_model and AWD-LSTM): every line is split on whitespace and
followed by ``<eos>`` (blank lines included); the vocabulary is every training word (PTB: 10,000,
WikiText-2: 33,278), with ``<eos>`` = 0 and ``<unk>`` = 1 (see :mod:`pipeline.data.text`).
"""

from __future__ import annotations

from pathlib import Path

from pipeline.data.bundle import DatasetBundle, DatasetMissingError
from pipeline.data.text import EOS, build_vocab, numericalize, unk_rate

SPLITS = ("train", "valid", "test")
LAYOUTS = {
    "ptb": ("ptb/ptb.{split}.txt", "ptb/{split}.txt", "penn/{split}.txt"),
    "wikitext2": ("wikitext-2/wiki.{split}.tokens", "wikitext-2/{split}.txt"),
}


def find_files(name: str, data_root: Path | None) -> dict[str, Path]:
    """The split files of ``name`` under ``data_root``; DatasetMissingError naming what was looked for."""
    patterns = LAYOUTS[name]
    if data_root is not None:
        for pattern in patterns:
            files = {split: Path(data_root) / pattern.format(split=split) for split in SPLITS}
            if all(path.is_file() for path in files.values()):
                return files
    root = str(data_root) if data_root is not None else "<data_root>"
    wanted = " or ".join(f"{root}/{pattern.format(split='{train,valid,test}')}" for pattern in patterns)
    raise DatasetMissingError(
        f"{name}: no corpus files found; expected {wanted}. Copy the standard files there and set data_root "
        "(config key data_root, --data-root); they cannot be downloaded offline"
    )


def tokenize_file(path: Path) -> list[str]:
    """Whitespace tokens of every line, each line followed by ``<eos>``."""
    tokens: list[str] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            tokens.extend(line.split())
            tokens.append(EOS)
    return tokens


def load_corpus(name: str, data_root: Path | None) -> DatasetBundle:
    """The bundle of ``ptb`` or ``wikitext2``: token streams ``train/valid/test`` and the vocabulary."""
    files = find_files(name, data_root)
    streams = {split: tokenize_file(path) for split, path in files.items()}
    vocab = build_vocab(streams["train"])
    tensors = {split: numericalize(tokens, vocab) for split, tokens in streams.items()}
    meta = {
        "kind": "text",
        "vocab_size": len(vocab),
        "unk_rate": {split: round(unk_rate(ids), 6) for split, ids in tensors.items()},
        "source": str(files["train"].parent),
        "preprocessing": "whitespace tokens, <eos> per line; vocab = all train words",
    }
    return DatasetBundle(name, tensors, meta, vocab)


def load_ptb(data_root: Path | None = None, download: bool = False) -> DatasetBundle:
    """Penn TreeBank (Mikolov's 10k-vocabulary version) from ``data_root``."""
    return load_corpus("ptb", data_root)


def load_wikitext2(data_root: Path | None = None, download: bool = False) -> DatasetBundle:
    """WikiText-2 (tokenised release) from ``data_root``."""
    return load_corpus("wikitext2", data_root)
