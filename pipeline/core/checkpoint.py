"""Checkpoints with an integrity header, written atomically.

File layout: a header line ``PIPELINE-CHECKPOINT v1 <sha256 hex> <payload bytes>\\n`` followed by the payload,
which is ``torch.save`` of a dict. :func:`load_checkpoint` checks the header, the length and the sha256
before unpickling (with ``weights_only=True``), so a truncated, corrupt or foreign file raises
:class:`CheckpointError` naming the file instead of being loaded.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import torch

from pipeline.core.atomic import atomic_write

MAGIC = b"PIPELINE-CHECKPOINT v1"


class CheckpointError(RuntimeError):
    """A checkpoint file is truncated, corrupt, or not a pipeline checkpoint."""


def encode_checkpoint(state: dict[str, Any]) -> bytes:
    """Header plus ``torch.save`` payload of ``state``."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    header = b"%s %s %d\n" % (MAGIC, hashlib.sha256(payload).hexdigest().encode(), len(payload))
    return header + payload


def save_checkpoint(path: Path | str, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (temp file, fsync, rename)."""
    data = encode_checkpoint(state)
    atomic_write(Path(path), lambda handle: handle.write(data))


def decode_checkpoint(data: bytes, source: str = "<bytes>", map_location: Any = "cpu") -> dict[str, Any]:
    """Verify and unpickle bytes written by :func:`encode_checkpoint`; CheckpointError names ``source``."""
    newline = data.find(b"\n", 0, 200)
    fields = data[:newline].split(b" ") if newline > 0 else []
    if len(fields) != 4 or b" ".join(fields[:2]) != MAGIC or not fields[3].isdigit():
        raise CheckpointError(f"{source}: not a pipeline checkpoint (missing or bad header)")
    expected_sha, expected_len = fields[2].decode(), int(fields[3])
    payload = data[newline + 1 :]
    if len(payload) != expected_len:
        raise CheckpointError(
            f"{source}: truncated or padded checkpoint "
            f"({len(payload)} payload bytes, header says {expected_len})"
        )
    if hashlib.sha256(payload).hexdigest() != expected_sha:
        raise CheckpointError(
            f"{source}: corrupt checkpoint (sha256 of the payload does not match its header)"
        )
    try:
        return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{source}: checkpoint payload cannot be loaded ({err})") from err


def load_checkpoint(path: Path | str, map_location: Any = "cpu") -> dict[str, Any]:
    """Read and verify a checkpoint; CheckpointError naming ``path`` when it is damaged."""
    path = Path(path)
    return decode_checkpoint(path.read_bytes(), str(path), map_location)
