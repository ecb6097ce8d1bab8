"""How many slots a peak needs."""

from __future__ import annotations

import math

from gateway.errors import ValidationError

# (name, lowest, highest) of each input, as the CLI names them; the console and the API check the same bounds
BOUNDS = (("--peak-clicks-per-s", 0, 1e6), ("--trace-s", 0, 3600), ("--cooldown-s", 0, 86_400), ("--headroom", 1, 100))


def required_slots(peak_clicks_per_s: float, trace_s: float, cooldown_s: float,
                   headroom: float = 1.5) -> tuple[int, str]:
    """Slots needed for a peak click rate, and the reasoning: each click holds its slot for the trace
    and then rests it for the cooldown, so at peak R x (T + C) slots are busy (Little's law). ValidationError
    naming an input that is not a finite number within its bounds (BOUNDS)."""
    for (name, low, high), value in zip(BOUNDS, (peak_clicks_per_s, trace_s, cooldown_s, headroom), strict=True):
        if not (math.isfinite(value) and low <= value <= high):
            raise ValidationError(name, f"must be a number from {low:g} to {high:g}")
    busy = peak_clicks_per_s * (trace_s + cooldown_s)
    slots = math.ceil(busy * headroom)
    explanation = (f"{peak_clicks_per_s:g} clicks/s x ({trace_s:g} s trace + {cooldown_s:g} s cooldown) = "
                   f"{busy:g} slots busy at peak; x {headroom:g} headroom = {slots} slots")
    return slots, explanation
