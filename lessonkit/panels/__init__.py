"""ipywidgets panels (core widgets only): tokens, tool decisions, timings, thread history, dashboard."""
from .dashboard import Dashboard, RunReport
from .thread import ThreadPanel
from .timings import TimingsPanel
from .tokens import TokenPanel
from .tools import ToolDecisionsPanel

__all__ = ["Dashboard", "RunReport", "ThreadPanel", "TimingsPanel", "TokenPanel", "ToolDecisionsPanel"]
