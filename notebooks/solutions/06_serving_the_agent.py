"""Solutions to 06_serving_the_agent: each block replaces the line(s) marked ← in that exercise's cell."""

# %% exercise 1
model_calls = sum(event["type"] == "model_end" for event in events)

# %% exercise 2
rejoin_headers = {"Last-Event-ID": "3"}

# %% exercise 3
await served.delete("ex-1")
