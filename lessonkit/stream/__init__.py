"""The normalized stream-event model, its adapters, timings and debugging recipes."""
from .adapters import EventsV2Adapter, StreamAdapter, watch, watch_sync
from .events import StreamEvent

__all__ = ["EventsV2Adapter", "StreamAdapter", "StreamEvent", "watch", "watch_sync"]
