"""A tiny SVG line chart, so the benchmarks need no plotting library."""
from __future__ import annotations

COLOURS = ("#0969da", "#bf8700", "#1a7f37", "#cf222e", "#8250df", "#57606a")


def line_chart(curves: dict[str, list[float]], title: str, x_label: str, y_label: str, width: int = 640, height: int = 320) -> str:
    left, right, top, bottom = 60, 150, 30, 40
    longest = max(len(c) for c in curves.values())
    peak = max(max(c) for c in curves.values()) or 1.0
    sx = (width - left - right) / max(longest - 1, 1)
    sy = (height - top - bottom) / peak
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-family='sans-serif' font-size='11'>",
             f"<rect width='{width}' height='{height}' fill='white'/>",
             f"<text x='{left}' y='18' font-size='13' font-weight='bold'>{title}</text>"]
    for i in range(5):
        y = height - bottom - i * (height - top - bottom) / 4
        parts.append(f"<line x1='{left}' y1='{y:.1f}' x2='{width - right}' y2='{y:.1f}' stroke='#eaeef2'/>")
        parts.append(f"<text x='{left - 6}' y='{y + 4:.1f}' text-anchor='end' fill='#57606a'>{peak * i / 4:.1f}</text>")
    for i in range(5):
        x = left + i * (width - left - right) / 4
        parts.append(f"<text x='{x:.1f}' y='{height - bottom + 16}' text-anchor='middle' fill='#57606a'>{round(1 + (longest - 1) * i / 4)}</text>")
    parts.append(f"<text x='{(width - right + left) / 2}' y='{height - 6}' text-anchor='middle'>{x_label}</text>")
    parts.append(f"<text x='14' y='{(height) / 2}' transform='rotate(-90 14 {height / 2})' text-anchor='middle'>{y_label}</text>")
    for n, (name, values) in enumerate(curves.items()):
        colour = COLOURS[n % len(COLOURS)]
        step = max(1, len(values) // 400)
        points = " ".join(f"{left + i * sx:.1f},{height - bottom - v * sy:.1f}" for i, v in enumerate(values) if i % step == 0)
        parts.append(f"<polyline fill='none' stroke='{colour}' stroke-width='1.5' points='{points}'/>")
        parts.append(f"<rect x='{width - right + 12}' y='{top + n * 18}' width='10' height='10' fill='{colour}'/>")
        parts.append(f"<text x='{width - right + 28}' y='{top + n * 18 + 9}'>{name}</text>")
    parts.append("</svg>")
    return "".join(parts)
