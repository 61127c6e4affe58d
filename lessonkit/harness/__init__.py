"""The harness: what runs, records, replays and tests the lessons. Students never import it.

``recording/`` (the Recorder, cassettes on disk, the httpx transports), ``search`` (the recorded Tavily
tool), ``settings``/``modes`` (every LESSONKIT_* variable, read once), the CLI (``cli``, ``record_command``,
``execute``, ``new_lesson``), exercise ``solutions``, and the pytest plugin with its usage ledgers.
"""
