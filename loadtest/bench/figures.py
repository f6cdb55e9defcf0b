"""The figures the bench's report and targets read from its rows: formatting, CPU shares, lookups."""

from __future__ import annotations

from typing import Any

COMMON = ("메뉴", "설문목록", "참여", "답(하나)", "제출", "내응답", "결과")
CPU_KEYS = ("generator", "nginx", "app", "postgres", "other")


def fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def cpu_text(row: dict[str, Any]) -> str:
    pct = row.get("cpu_pct") or {}
    return " / ".join(fmt(pct.get(k), 0) for k in CPU_KEYS)


def find(rows: list[dict[str, Any]], **where: Any) -> dict[str, Any] | None:
    for row in rows:
        if all(row.get(k) == v for k, v in where.items()):
            return row
    return None


def common_latency(row: dict[str, Any], key: str = "p50") -> float | None:
    names = row.get("names") or {}
    values = [names[n][key] for n in COMMON if n in names and names[n]["count"]]
    return sum(values) / len(values) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None
