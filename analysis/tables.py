"""Rows of results -> markdown, CSV and LaTeX tables. A row is a dict; columns keep their order."""
from __future__ import annotations

import csv
import io
from typing import Dict, List, Sequence


def _columns(rows: Sequence[Dict], columns=None) -> List[str]:
    if columns:
        return list(columns)
    seen: Dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _cell(value, digits: int) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return "" if value is None else str(value)


def to_markdown(rows: Sequence[Dict], columns=None, digits: int = 4) -> str:
    cols = _columns(rows, columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c), digits) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows: Sequence[Dict], columns=None) -> str:
    cols = _columns(rows, columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def to_latex(rows: Sequence[Dict], columns=None, digits: int = 4) -> str:
    cols = _columns(rows, columns)

    def esc(text: str) -> str:
        return text.replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")

    lines = [r"\begin{tabular}{" + "l" * len(cols) + "}", r"\hline", " & ".join(map(esc, cols)) + r" \\", r"\hline"]
    for row in rows:
        lines.append(" & ".join(esc(_cell(row.get(c), digits)) for c in cols) + r" \\")
    lines += [r"\hline", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
