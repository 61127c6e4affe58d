"""Record and replay of LLM and tool traffic: cassette (storage), canonical (matching), wire (format), transports."""
from .authoring import Reply, ScriptedCall, ScriptedTransport, Script, SearchReply, load_script
from .cassette import Cassette
from .transports import RecordingTransport, ReplayTransport
from .wire import ChatResponse, Chunk

__all__ = [
    "Cassette", "ChatResponse", "Chunk", "RecordingTransport", "ReplayTransport", "Reply", "Script", "ScriptedCall",
    "ScriptedTransport", "SearchReply", "load_script",
]
