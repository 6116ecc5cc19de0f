"""A fixture that runs a test with one torch thread (restored afterwards).

The models in these tests are tiny: one thread is faster, and it avoids the large slow-down of
oversubscribed OpenMP threads when other processes share the machine's cores.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture
def single_thread() -> Iterator[None]:
    """torch.set_num_threads(1) for the duration of one test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
