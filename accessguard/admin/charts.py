"""Charts drawn on the server as inline SVG: no script, nothing loaded (the pages' CSP stays as it is).

Readable without colour: each series has its own fill pattern (solid, hatched, dotted) besides its
colour, values are written beside the bars, and each chart has an accessible name; the dashboard puts
the same figures in a table under each chart.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

WIDTH = 720
#: Series styles: (colour, pattern) by outcome; the pattern tells them apart in grey too.
STYLES = {
    "allow": ("#1e6b35", "solid"),
    "step_up": ("#8a5a00", "hatched"),
    "deny": ("#b3261e", "dotted"),
}


def _defs(prefix: str) -> str:
    """Fill patterns for the series, ids prefixed per chart (several charts share a page)."""
    parts = []
    for name, (colour, pattern) in STYLES.items():
        if pattern == "hatched":
            parts.append(
                f'<pattern id="{prefix}-{name}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
                f'<rect width="6" height="6" fill="#fff"/><rect width="3" height="6" fill="{colour}"/></pattern>'
            )
        elif pattern == "dotted":
            parts.append(
                f'<pattern id="{prefix}-{name}" width="5" height="5" patternUnits="userSpaceOnUse">'
                f'<rect width="5" height="5" fill="{colour}"/><circle cx="2.5" cy="2.5" r="1.2" fill="#fff"/></pattern>'
            )
    return f"<defs>{''.join(parts)}</defs>"


def _fill(prefix: str, name: str) -> str:
    colour, pattern = STYLES[name]
    return colour if pattern == "solid" else f"url(#{prefix}-{name})"


def _svg(label: str, height: int, body: str) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{html.escape(label)}" viewBox="0 0 {WIDTH} {height}"'
        f' width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


def legend(prefix: str, series: Mapping[str, str]) -> str:
    """The series' swatches with their names (series to name, in order), as SVG (to put under a chart)."""
    items = []
    for i, (name, shown) in enumerate(series.items()):
        x = 10 + i * 230  # room for the longest name (French "vérification demandée")
        items.append(
            f'<rect x="{x}" y="4" width="16" height="16" fill="{_fill(prefix, name)}" stroke="#1d2733"/>'
            f'<text x="{x + 22}" y="17" font-size="13" fill="#1d2733">{html.escape(shown)}</text>'
        )
    return _svg(", ".join(series.values()), 24, _defs(prefix) + "".join(items))


def stacked_bars(
    prefix: str, label: str, columns: Sequence[tuple[str, dict[str, int]]], series: Sequence[str], *, label_every: int = 1
) -> str:
    """One stacked bar per column (its label, counts by series); every ``label_every``-th column labelled."""
    height, top, bottom, left = 220, 14, 30, 46
    plot = height - top - bottom
    peak = max((sum(c.values()) for _, c in columns), default=0) or 1
    step = (WIDTH - left - 10) / max(len(columns), 1)
    parts = [
        _defs(prefix),
        f'<line x1="{left}" y1="{top + plot}" x2="{WIDTH - 10}" y2="{top + plot}" stroke="#5b6876"/>',
        f'<text x="{left - 6}" y="{top + 4}" font-size="12" text-anchor="end" fill="#1d2733">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot}" font-size="12" text-anchor="end" fill="#1d2733">0</text>',
    ]
    for i, (name, counts) in enumerate(columns):
        x, y = left + i * step, float(top + plot)
        for serie in series:
            h = plot * counts.get(serie, 0) / peak
            if h:
                y -= h
                parts.append(
                    f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(step - 2, 1):.1f}" height="{h:.1f}"'
                    f' fill="{_fill(prefix, serie)}" stroke="#1d2733" stroke-width="0.5"/>'
                )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{height - 10}" font-size="11" text-anchor="middle"'
                f' fill="#1d2733">{html.escape(name)}</text>'
            )
    return _svg(label, height, "".join(parts))


def horizontal_bars(label: str, items: Sequence[tuple[str, int]]) -> str:
    """One labelled bar per item with its value written at its end."""
    row, left = 26, 230
    height = max(len(items), 1) * row + 10
    peak = max((v for _, v in items), default=0) or 1
    parts = []
    for i, (name, value) in enumerate(items):
        y = 6 + i * row
        w = (WIDTH - left - 60) * value / peak
        parts.append(
            f'<text x="{left - 8}" y="{y + 15}" font-size="13" text-anchor="end" fill="#1d2733">{html.escape(name)}</text>'
            f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="18" fill="#0b5cab"/>'
            f'<text x="{left + w + 6:.1f}" y="{y + 15}" font-size="13" fill="#1d2733">{value}</text>'
        )
    return _svg(label, height, "".join(parts))


def paired_bars(label: str, items: Sequence[tuple[str, float, float]], *, now_label: str, usual_label: str) -> str:
    """Per item, a solid bar (now) above an outlined one (usual), each with its value: a burst reads as a long solid bar."""
    row, left = 44, 150
    height = max(len(items), 1) * row + 10
    peak = max((max(now, usual) for _, now, usual in items), default=0) or 1
    scale = (WIDTH - left - 150) / peak
    parts = []
    now_label, usual_label = html.escape(now_label), html.escape(usual_label)
    for i, (name, now, usual) in enumerate(items):
        y = 6 + i * row
        parts.append(
            f'<text x="{left - 8}" y="{y + 22}" font-size="13" text-anchor="end" fill="#1d2733">{html.escape(name)}</text>'
            f'<rect x="{left}" y="{y}" width="{now * scale:.1f}" height="16" fill="#0b5cab"/>'
            f'<text x="{left + now * scale + 6:.1f}" y="{y + 13}" font-size="12" fill="#1d2733">{now:g} {now_label}</text>'
            f'<rect x="{left}" y="{y + 19}" width="{usual * scale:.1f}" height="14" fill="#fff" stroke="#1d2733" stroke-dasharray="4 2"/>'
            f'<text x="{left + usual * scale + 6:.1f}" y="{y + 31}" font-size="12" fill="#1d2733">{usual:.1f} {usual_label}</text>'
        )
    return _svg(label, height, "".join(parts))
