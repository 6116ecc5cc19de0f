"""Progress bars: tqdm on a terminal, silent in logs.

A bar is shown when stderr is a TTY, unless the caller decides, or the environment variable
``PIPELINE_PROGRESS`` is ``1`` (always) or ``0`` (never).
"""

from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm


def progress_enabled(requested: bool | None = None) -> bool:
    """Whether to draw a bar: ``requested`` if given, else ``PIPELINE_PROGRESS``, else stderr is a TTY."""
    if requested is not None:
        return requested
    env = os.environ.get("PIPELINE_PROGRESS")
    if env in ("0", "1"):
        return env == "1"
    return sys.stderr.isatty()


def progress_bar(total: int, desc: str = "", initial: int = 0, enabled: bool | None = None) -> tqdm:
    """A tqdm bar over ``total`` steps starting at ``initial``; disabled (no output) unless enabled."""
    return tqdm(
        total=total, initial=initial, desc=desc, disable=not progress_enabled(enabled), dynamic_ncols=True
    )
