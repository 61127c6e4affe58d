"""Solutions to 07_sharing_threads_with_postgres: each block replaces the line(s) marked ← in that exercise's cell."""

# %% exercise 1
checkpoints.delete_thread(saver, "local/race-1")
