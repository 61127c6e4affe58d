"""Solutions to 03_async_token_streaming: each block replaces the line(s) marked ← in that exercise's cell."""

# %% exercise 1
share = timings.time_to_first_token / timings.wall_time

# %% exercise 2
token_nodes = {metadata["langgraph_node"] for chunk, metadata in streamed if isinstance(chunk, AIMessageChunk) and chunk.content}

# %% exercise 3
tool_starts = sum(1 for event in events if event["event"] == "on_tool_start")
