"""How many slots a peak needs."""

from __future__ import annotations

import math


def required_slots(peak_clicks_per_s: float, trace_s: float, cooldown_s: float,
                   headroom: float = 1.5) -> tuple[int, str]:
    """Slots needed for a peak click rate, and the reasoning: each click holds its slot for the trace
    and then rests it for the cooldown, so at peak R x (T + C) slots are busy (Little's law)."""
    busy = peak_clicks_per_s * (trace_s + cooldown_s)
    slots = math.ceil(busy * headroom)
    explanation = (f"{peak_clicks_per_s:g} clicks/s x ({trace_s:g} s trace + {cooldown_s:g} s cooldown) = "
                   f"{busy:g} slots busy at peak; x {headroom:g} headroom = {slots} slots")
    return slots, explanation
