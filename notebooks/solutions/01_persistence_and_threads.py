"""Solutions to 01_persistence_and_threads: each block replaces the line(s) marked ← in that exercise's cell."""

# %% exercise 1
answer = len(agent.get_state(thread_1).values["messages"])

# %% exercise 2
thread_that_remembers = "1"

# %% exercise 3
checkpoints.delete_thread(reopened, "2")
