"""The cosine-annealed death rate of Selfish-RNN (docs/selfish_rnn.md, "Death-rate schedule").

p_t = p_min + ½(p₀ − p_min)(1 + cos(π t / T)), stepped every iteration, T ≈ the total number of iterations;
p_min = 0.005 as in the official code. Beyond T the cosine is periodic (as the code's scheduler is).
"""

from __future__ import annotations

import math

DEATH_RATE_FLOOR = 0.005


def cosine_death_rate(step: int, total_steps: int, initial: float, floor: float = DEATH_RATE_FLOOR) -> float:
    """Death rate after ``step`` iterations of ``total_steps`` (p_0 = ``initial``, p_T = ``floor``)."""
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    return floor + 0.5 * (initial - floor) * (1.0 + math.cos(math.pi * step / total_steps))
