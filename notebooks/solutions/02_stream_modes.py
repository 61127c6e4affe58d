"""Solutions to 02_stream_modes: each block replaces the line(s) marked ← in that exercise's cell."""

# %% exercise 1
answer_chunks = [chunk for chunk, metadata in chunks if chunk.id == chunks[-1][0].id]
billed_tokens = sum(answer_chunks[1:], answer_chunks[0]).usage_metadata["output_tokens"]

# %% exercise 2
mode = "updates"

# %% exercise 3
parent_node = namespace[0].split(":")[0]
