"""Solutions to 04_debugging_with_streams: each block replaces the line(s) marked ← in that exercise's cell."""

# %% exercise 1
finding = recipes.tool_not_used(error_dash.runs[-1], expected="tavily_search")

# %% exercise 2
decisions = [e for e in loop_events if isinstance(e, ToolDecision)]

# %% exercise 3
first_call = [[e for e in run if isinstance(e, ModelEnd)][0] for run in turns.runs[:2]]
growth = first_call[1].input_tokens - first_call[0].input_tokens
