"""The machinery behind ``lessonkit.checkpoints`` and ``lessonkit.postgres``: saver construction, database files,
per-thread run locks (``locks``: fcntl on SQLite files; ``pg_locks``: advisory locks on Postgres) and the run
policy that uses them (``runs``). Lessons import ``checkpoints``/``postgres``; this is what they stand on.
"""
