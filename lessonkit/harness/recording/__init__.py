"""Record and replay of LLM and tool traffic: cassette (storage), canonical (matching), wire (format), recorder
(the decision), transports (chat over httpx), authoring (scripts as an upstream)."""
from .authoring import Reply, ScriptedCall, Script, ScriptUpstream, SearchReply, load_script
from .cassette import Cassette
from .recorder import Answer, Decision, Recorder, RecordMode, decide, record_mode
from .transports import ChatTransport, RecordingTransport, ReplayTransport
from .wire import ChatResponse, Chunk

__all__ = [
    "Answer", "Cassette", "ChatResponse", "ChatTransport", "Chunk", "Decision", "RecordMode", "Recorder", "RecordingTransport",
    "ReplayTransport", "Reply", "Script", "ScriptUpstream", "ScriptedCall", "SearchReply", "decide", "load_script", "record_mode",
]
