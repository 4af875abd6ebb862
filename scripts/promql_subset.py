"""Just enough PromQL to evaluate the dashboard's queries on a series of ``/metrics`` scrapes.

Grafana is not packaged for Debian, so ``render_dashboard.py`` evaluates the panels itself. The
grammar is what ``docs/grafana/cloud-broker.json`` uses and nothing more::

    expr := AGG [by (labels)] (expr) | histogram_quantile(q, expr)
          | rate(name[window]) | increase(name[window]) | name
    AGG  := sum | max | min

``rate`` spans ``RATE_SCRAPES`` scrape intervals (Grafana's ``$__rate_interval`` is at least four
of them) and ``increase`` the whole range; counter resets are not handled (one process, never
restarted).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

Labels = frozenset[tuple[str, str]]
Vector = dict[Labels, float]
Scrape = tuple[float, dict[str, Vector]]  # (time in seconds, series name -> labels -> value)

_AGG = re.compile(r"^(sum|max|min)\s*(?:by \(([^)]*)\))?\s*\((.*)\)$", re.DOTALL)
_QUANTILE = re.compile(r"^histogram_quantile\(([0-9.]+),\s*(.*)\)$", re.DOTALL)
_RANGE = re.compile(r"^(rate|increase)\(([a-z_]+)\[[^\]]+\]\)$")
_NAME = re.compile(r"^[a-z_]+$")
RATE_SCRAPES = 4
_REDUCE: dict[str, Callable[[list[float]], float]] = {"sum": sum, "max": max, "min": min}


def evaluate(expr: str, scrapes: list[Scrape], at: int) -> Vector:
    """``expr`` at the ``at``-th scrape."""
    expr = expr.strip()
    if match := _AGG.match(expr):
        op, by, inner = match.groups()
        keep = {label.strip() for label in (by or "").split(",") if label.strip()}
        groups: dict[Labels, list[float]] = {}
        for labels, value in evaluate(inner, scrapes, at).items():
            groups.setdefault(frozenset((k, v) for k, v in labels if k in keep), []).append(value)
        return {labels: _REDUCE[op](values) for labels, values in groups.items()}
    if match := _QUANTILE.match(expr):
        return _quantiles(float(match.group(1)), evaluate(match.group(2), scrapes, at))
    if match := _RANGE.match(expr):
        function, name = match.groups()
        return _rate(scrapes, name, at) if function == "rate" else _increase(scrapes, name, at)
    if _NAME.match(expr):
        return dict(scrapes[at][1].get(expr, {}))
    raise ValueError(f"not in the subset: {expr}")


def _rate(scrapes: list[Scrape], name: str, at: int) -> Vector:
    if at == 0:
        return {}
    (t0, before), (t1, now) = scrapes[max(at - RATE_SCRAPES, 0)], scrapes[at]
    old = before.get(name, {})
    return {labels: (value - old.get(labels, 0.0)) / (t1 - t0) for labels, value in now.get(name, {}).items()}


def _increase(scrapes: list[Scrape], name: str, at: int) -> Vector:
    first = scrapes[0][1].get(name, {})
    return {labels: value - first.get(labels, 0.0) for labels, value in scrapes[at][1].get(name, {}).items()}


def _quantiles(q: float, buckets: Vector) -> Vector:
    """Prometheus' estimate: linear interpolation inside the bucket the rank falls in."""
    series: dict[Labels, list[tuple[float, float]]] = {}
    for labels, count in buckets.items():
        bound = dict(labels)["le"]
        series.setdefault(frozenset(p for p in labels if p[0] != "le"), []).append((float(bound), count))
    result: Vector = {}
    for labels, points in series.items():
        points.sort()
        total = points[-1][1]
        if total <= 0:
            continue  # no observation in the window: Prometheus answers NaN, Grafana draws a gap
        rank, lower, below = q * total, 0.0, 0.0
        for upper, count in points:
            if count >= rank:
                result[labels] = lower if math.isinf(upper) else lower + (upper - lower) * (rank - below) / max(
                    count - below, 1e-12)
                break
            lower, below = upper, count
    return result
