"""A method's results across its seeds, and grouping a grid's rows by method."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from ptune.lab.compare.cells import normalise_row


@dataclass
class Summary:
    """One method across its seeds."""

    method: str
    label: str = ""
    base_method: str = ""
    settings: dict = field(default_factory=dict)
    runs: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)

    def values(self, key: str) -> list[float]:
        return [r[key] for r in self.runs]

    def mean(self, key: str) -> float:
        return statistics.mean(self.values(key))

    def std(self, key: str) -> float:
        values = self.values(key)
        return statistics.stdev(values) if len(values) > 1 else 0.0

    def median(self, key: str) -> float:
        return statistics.median(self.values(key))

    @property
    def seeds(self) -> list[int]:
        return sorted(r["seed"] for r in self.runs)


def summarize(rows: list[dict], order: list[str] | None = None) -> list[Summary]:
    """Rows grouped by method, in `order` first, then in the order they appear."""
    by_method: dict[str, Summary] = {}
    for method in order or []:
        by_method[method] = Summary(method)
    for row in sorted(map(normalise_row, rows), key=lambda r: r.get("seed", 0)):
        summary = by_method.setdefault(row["method"], Summary(row["method"]))
        if "error" in row:
            summary.failures.append(row)
        else:
            summary.runs.append(row)
            summary.label, summary.base_method = row.get("label", ""), row.get("base_method", "")
            summary.settings = row.get("settings", {})
    return [s for s in by_method.values() if s.runs or s.failures]


