"""Turn both servers' figures into the table: metric | livewatch | baseline | ratio | target."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

Figures = dict[str, Any]
BUSY_PCT = 10.0  # other processes using more than this much of a core disturb a figure


@dataclass(frozen=True)
class Row:
    metric: str
    unit: str
    livewatch: float | None
    baseline: float | None
    target: float | None = None  # an upper bound; None: reported only

    @property
    def ratio(self) -> float | None:
        if self.livewatch is None or not self.baseline or _bad(self.livewatch, self.baseline):
            return None
        return self.livewatch / self.baseline

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        if self.livewatch is None:
            return "n/a"
        if _bad(self.livewatch):
            return "FAIL"
        return "pass" if self.livewatch <= self.target else "FAIL"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "verdict": self.verdict}


def _bad(*values: float) -> bool:
    return any(math.isnan(v) or math.isinf(v) for v in values)


def _get(figures: Figures, *path: str) -> float | None:
    value: Any = figures
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def build_rows(lw: Figures, bl: Figures, clients: int, idle_clients: int) -> list[Row]:
    rows = [
        Row("1 write→WS p50, protocol 2", "ms", _get(lw, "latency_p2", "p50"),
            _get(bl, "latency_seed", "p50"), 20),
        Row("1 write→WS p99, protocol 2", "ms", _get(lw, "latency_p2", "p99"),
            _get(bl, "latency_seed", "p99"), 100),
        Row("1 write→WS p50, seed format", "ms", _get(lw, "latency_seed", "p50"),
            _get(bl, "latency_seed", "p50"), 20),
        Row("1 write→WS p99, seed format", "ms", _get(lw, "latency_seed", "p99"),
            _get(bl, "latency_seed", "p99"), 100),
        Row("2 bytes per change, protocol 2", "B", _get(lw, "bytes_p2"),
            _get(bl, "bytes_seed"), 2048),
        Row("2 bytes per change, seed format", "B", _get(lw, "bytes_seed"),
            _get(bl, "bytes_seed")),
        Row(f"3 idle CPU, {idle_clients} clients", "% core", _get(lw, "idle", "percent"),
            _get(bl, "idle", "percent"), 1),
        Row(f"4 fan-out p99, {clients} clients", "ms", _get(lw, "fanout", "p99"),
            _get(bl, "fanout", "p99"), 250),
        Row("4 fan-out p99, worst change", "ms", _get(lw, "fanout", "p99_max"),
            _get(bl, "fanout", "p99_max")),
        Row(f"4 fan-out p50, {clients} clients", "ms", _get(lw, "fanout", "summary", "p50"),
            _get(bl, "fanout", "summary", "p50")),
        Row(f"4 connect {clients} clients (+ first list)", "s", _get(lw, "fanout", "connect_s"),
            _get(bl, "fanout", "connect_s")),
        Row("5 cold start to full snapshot", "s", _get(lw, "cold", "seconds"),
            _get(bl, "cold", "seconds"), 2),
        Row("5 RSS after first snapshot", "MB", _get(lw, "cold", "rss_mb"),
            _get(bl, "cold", "rss_mb"), 250),
        Row("5 peak RSS over the whole run", "MB", _get(lw, "peak_rss_mb"),
            _get(bl, "peak_rss_mb")),
        Row("6 write→DOM p95 (Chromium)", "ms", _get(lw, "dom", "p95"), None, 150),
        Row("6 write→DOM p50 (Chromium)", "ms", _get(lw, "dom", "p50"), None),
        Row("6 write→next frame p95", "ms", _get(lw, "paint", "p95"), None),
    ]  # fmt: skip
    return rows


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if _bad(value):
        return "none"
    if unit == "B":
        return f"{value / 1024:,.1f} KB" if value >= 10_240 else f"{value:,.0f} B"
    if unit == "ms":
        return f"{value:,.1f} ms" if value < 10_000 else f"{value / 1000:,.1f} s"
    if unit == "s":
        return f"{value:,.2f} s"
    if unit == "MB":
        return f"{value:,.0f} MB"
    if unit == "% core":
        return f"{value:.2f} %"
    return f"{value:g} {unit}"


def _ratio(row: Row) -> str:
    ratio = row.ratio
    if ratio is None:
        return "n/a"
    return f"{ratio:.3g}x" if ratio >= 0.001 else f"{ratio:.1e}x"


def _target(row: Row) -> str:
    return "" if row.target is None else "≤ " + _number(row.target, row.unit)


def markdown(rows: list[Row]) -> str:
    head = (
        "| metric | livewatch | baseline | ratio | target | pass/fail |\n|---|---|---|---|---|---|"
    )
    lines = [
        f"| {r.metric} | {_number(r.livewatch, r.unit)} | {_number(r.baseline, r.unit)} "
        f"| {_ratio(r)} | {_target(r)} | {r.verdict} |"
        for r in rows
    ]
    return "\n".join([head, *lines])


def text_table(rows: list[Row]) -> str:
    cells = [["metric", "livewatch", "baseline", "ratio", "target", "pass/fail"]] + [
        [r.metric, _number(r.livewatch, r.unit), _number(r.baseline, r.unit), _ratio(r),
         _target(r), r.verdict]
        for r in rows
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    out = []
    for index, row in enumerate(cells):
        out.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def load_note(whole: dict[str, float], results: dict[str, Figures]) -> str:
    """One line on how busy other processes kept the machine, naming disturbed phases."""
    disturbed = [
        f"{server}/{phase} {load['others_pct']:.0f} %"
        for server, figures in results.items()
        for phase, load in figures.get("background", {}).items()
        if load["others_pct"] > BUSY_PCT or load["steal_pct"] > BUSY_PCT
    ]
    line = (
        f"other processes: {whole['others_pct']:.1f} % of a core on average during the run, "
        f"steal {whole['steal_pct']:.1f} %"
    )
    if disturbed:
        line += f"; disturbed (> {BUSY_PCT:.0f} % of a core): " + ", ".join(disturbed)
    return line
