"""Live panels: tokens, tool decisions, timings (with cost), the graph, thread history, and the dashboard that holds them."""
from .dashboard import Dashboard, RunReport
from .graph import GraphPanel
from .thread import ThreadPanel
from .timings import TimingsPanel
from .tokens import TokenPanel
from .tools import ToolDecisionsPanel

__all__ = ["Dashboard", "GraphPanel", "RunReport", "ThreadPanel", "TimingsPanel", "TokenPanel", "ToolDecisionsPanel"]
