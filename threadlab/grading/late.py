"""Late work: when a submission was handed in, how late that is, and what it costs.

``python -m threadlab grade ... --due 2026-12-15T23:59+01:00 --late-penalty 10%/day --late-cap 50%``

- **When**: nbgrader's ``collect`` writes ``timestamp.txt`` next to each submission (the time the student
  ran *submit*, in UTC); that is used when present. Otherwise the notebook file's modification time is
  used and the result says so (a copy or a ``git clone`` resets file times: pass the right files or
  use ``--due`` only with collected submissions).
- **Penalty** ``RATE/UNIT``: ``RATE`` is points (``0.5``) or a percentage of the lab's maximum (``10%``),
  ``UNIT`` is ``hour`` or ``day``; every started unit after the due time (plus ``--grace`` minutes)
  costs ``RATE``. ``--late-cap`` bounds the total (points or percent); the score never goes below 0.
  Without ``--late-penalty`` lateness is reported but costs nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import os
import re

UTC = _dt.UTC


def parse_due(text: str) -> _dt.datetime:
    """An ISO 8601 time with a time zone (``2026-12-15T23:59+01:00``, ``...Z``); naive times are refused."""
    value = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        due = _dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--due {text!r}: not an ISO 8601 time such as 2026-12-15T23:59+01:00") from None
    if due.tzinfo is None:
        raise ValueError(f"--due {text!r} has no time zone: write it as 2026-12-15T23:59+01:00 (or ...Z for UTC)")
    return due.astimezone(UTC)


def _amount(text: str, what: str) -> tuple[float, bool]:
    """(value, is_percent) of ``10%`` or ``1.5``."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(%?)\s*", text)
    if not m:
        raise ValueError(f"{what} {text!r}: expected points (1.5) or a percentage of the maximum (10%)")
    return float(m.group(1)), bool(m.group(2))


@dataclasses.dataclass
class LatePolicy:
    rate: float = 0.0  # points or percent per unit
    rate_percent: bool = False
    unit_seconds: int = 86400
    cap: float | None = None
    cap_percent: bool = False
    grace_seconds: float = 0.0

    @classmethod
    def parse(cls, penalty: str | None, cap: str | None = None, grace_minutes: float = 0.0) -> LatePolicy:
        policy = cls(grace_seconds=grace_minutes * 60)
        if penalty:
            m = re.fullmatch(r"\s*([^/]+)/\s*(hour|h|day|d)\s*", penalty)
            if not m:
                raise ValueError(f"--late-penalty {penalty!r}: write RATE/UNIT, e.g. 10%/day or 0.5/hour")
            policy.rate, policy.rate_percent = _amount(m.group(1), "--late-penalty")
            policy.unit_seconds = 3600 if m.group(2).startswith("h") else 86400
        if cap:
            policy.cap, policy.cap_percent = _amount(cap, "--late-cap")
        return policy

    def describe(self) -> str:
        if not self.rate:
            return "no penalty (lateness is reported only)"
        unit = "hour" if self.unit_seconds == 3600 else "day"
        text = f"{self.rate:g}{'%' if self.rate_percent else ' points'} per started {unit} late"
        if self.cap is not None:
            text += f", at most {self.cap:g}{'%' if self.cap_percent else ' points'}"
        if self.grace_seconds:
            text += f", after {self.grace_seconds / 60:g} minutes of grace"
        return text

    def penalty(self, late_seconds: float, max_score: float) -> float:
        if late_seconds <= self.grace_seconds or not self.rate:
            return 0.0
        units = math.ceil((late_seconds - self.grace_seconds) / self.unit_seconds)
        per_unit = self.rate * max_score / 100 if self.rate_percent else self.rate
        points = units * per_unit
        if self.cap is not None:
            points = min(points, self.cap * max_score / 100 if self.cap_percent else self.cap)
        return round(points, 4)


def submission_time(nb_path: str) -> tuple[_dt.datetime, str]:
    """(time, source) of a submission: nbgrader's ``timestamp.txt`` next to it, else the file's modification time."""
    stamp = os.path.join(os.path.dirname(os.path.abspath(nb_path)), "timestamp.txt")
    if os.path.isfile(stamp):
        from nbgrader.utils import parse_utc

        try:
            text = open(stamp).read().strip()
            when = parse_utc(text)
            return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC), "timestamp.txt"
        except (OSError, ValueError) as exc:
            mtime = _dt.datetime.fromtimestamp(os.path.getmtime(nb_path), UTC)
            return mtime, f"file time (timestamp.txt unreadable: {exc})"
    return _dt.datetime.fromtimestamp(os.path.getmtime(nb_path), UTC), "file time (no timestamp.txt)"


def duration(seconds: float) -> str:
    """``2 d 3 h``, ``3 h 12 min``, ``12 min``, ``40 s``."""
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"
