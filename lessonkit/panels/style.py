"""The panels' look: one small stylesheet, shipped in an HTML widget (it styles the streamed text widgets too)."""
from __future__ import annotations

import ipywidgets as widgets

CSS = """
.lk-panel { font-family: var(--jp-ui-font-family, system-ui, sans-serif); font-size: 13px; color: #1f2328; }
.lk-title { font-weight: 600; font-size: 13px; margin: 6px 0 2px 0; color: #1f2328; }
.lk-card { border: 1px solid #d0d7de; border-radius: 6px; padding: 6px 10px; margin: 4px 0; background: #ffffff; }
.lk-card.lk-failed { border-color: #cf222e; background: #fff5f5; }
.lk-head, .lk-head .widget-html-content { font-size: 12px; color: #57606a; }
.lk-text { margin: 2px 0; white-space: pre-wrap; overflow-wrap: anywhere; line-height: 1.5;
  font-family: var(--jp-code-font-family, ui-monospace, monospace); font-size: 12.5px; }
.lk-text.lk-args { color: #8250df; }
.lk-error, .lk-error .widget-html-content { color: #cf222e; font-weight: 600; }
.lk-muted { color: #57606a; }
table.lk-table { border-collapse: collapse; font-size: 12px; margin: 4px 0; }
table.lk-table th, table.lk-table td { border-bottom: 1px solid #eaeef2; padding: 2px 10px 2px 0; text-align: left; }
table.lk-table td.num { text-align: right; font-variant-numeric: tabular-nums; }
.lk-steps details { border-bottom: 1px solid #eaeef2; padding: 2px 0; }
.lk-steps summary { cursor: pointer; font-size: 12px; color: #57606a; }
.lk-run-label, .lk-run-label .widget-html-content { font-size: 12px; color: #1f2328; border-top: 1px solid #d0d7de; padding-top: 4px; margin-top: 6px; }
.lk-pre { white-space: pre-wrap; font-family: var(--jp-code-font-family, ui-monospace, monospace); font-size: 12px; margin: 2px 0; }
"""

MODEL_COLOUR = "#0969da"
TOOL_COLOUR = "#bf8700"
ERROR_COLOUR = "#cf222e"

TIMELINE_CSS = f"""
.lk-timeline {{ font: 11px sans-serif; max-width: 100%; height: auto; }}
.lk-timeline text {{ fill: #1f2328; }}
.lk-timeline text.tick {{ fill: #57606a; text-anchor: middle; }}
.lk-timeline text.tick.last {{ text-anchor: end; }}
.lk-timeline .stopped {{ fill-opacity: 0.45; stroke: #57606a; stroke-dasharray: 3 2; }}
.lk-timeline .grid {{ stroke: #eaeef2; }}
.lk-timeline .model, .lk-legend .model {{ fill: {MODEL_COLOUR}; color: {MODEL_COLOUR}; }}
.lk-timeline .tool, .lk-legend .tool {{ fill: {TOOL_COLOUR}; color: {TOOL_COLOUR}; }}
.lk-timeline .failed, .lk-legend .failed {{ fill: {ERROR_COLOUR}; color: {ERROR_COLOUR}; }}
.lk-timeline .wait {{ opacity: 0.35; }}
.lk-legend {{ font-size: 11px; color: #57606a; }}
"""


# Every widget made without a layout opens a Layout model of its own (~1 kB on the wire). Cards and
# headings that need no layout of their own share these instead.
SHARED_LAYOUT = widgets.Layout()
CARD_LAYOUT = widgets.Layout()
SHARED_HTML_STYLE = widgets.HTML(layout=SHARED_LAYOUT).style  # HTMLStyle in 8.x, DescriptionStyle in 7.x


def style_widget() -> widgets.HTML:
    """The stylesheet as a widget: include it once in whatever box is displayed."""
    return widgets.HTML(value=f"<style>{CSS}{TIMELINE_CSS}</style>", layout=widgets.Layout(height="0px", margin="0"))


def titled(title: str, *children: widgets.Widget, css_class: str) -> widgets.VBox:
    """A panel's outer box: stylesheet, a title, then its content."""
    heading = widgets.HTML(value=f'<div class="lk-title">{title}</div>')
    box = widgets.VBox([style_widget(), heading, *children])
    box.add_class("lk-panel")
    box.add_class(css_class)
    return box
