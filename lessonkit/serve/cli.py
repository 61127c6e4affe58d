"""``lessonkit serve``: the lesson agent on 127.0.0.1:8000, replayed unless keys say otherwise.

``add_arguments`` fills the subparser ``lessonkit/harness/cli.py`` creates, and ``main(args)`` runs it, so the
top-level CLI holds only one line for this command.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from lessonkit.harness.modes import active_mode, load_env, parse_mode
from lessonkit.harness.settings import VARIABLES

from .auth import TokensFileError, bind_refusal, load_tokens, loosely_readable
from .settings import LESSON_NAME, ServeSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = ServeSettings()
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--database", metavar="FILE_OR_URL",
                        help="where threads live: a SQLite file, or postgresql://USER:PASSWORD@HOST:PORT/DB to share them "
                             f"between instances (default: ${VARIABLES['database_url']}, else a per-user SQLite file)")
    parser.add_argument("--mode", choices=("replay", "live", "record"), help="as the lessons: default replay without OPENAI_API_KEY")
    parser.add_argument("--speed", type=float, help="replay pacing, 0 (instant) to 1 (as recorded)")
    parser.add_argument("--recordings", type=Path, default=defaults.recordings_dir, help="folder holding the lesson's recording")
    parser.add_argument("--lesson", default=LESSON_NAME, help="whose recording answers (default %(default)s)")
    parser.add_argument("--approve-tools", action="store_true", help="pause before each tool call for an approve/reject resume")
    parser.add_argument("--heartbeat", type=float, default=defaults.heartbeat_s, help="seconds between heartbeats on an idle stream")
    parser.add_argument("--run-timeout", type=float, default=defaults.run_timeout_s, help="seconds before a run is stopped")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--tokens", type=Path, metavar="FILE",
                        help="bearer tokens, one 'user token' line per user (# comments); without it: one local user, loopback only")
    parser.add_argument("--max-streams", type=int, default=defaults.max_streams,
                        help="open streams (SSE and WebSocket) at once; one more gets 503 + Retry-After (default %(default)s)")
    parser.add_argument("--max-message-chars", type=int, default=defaults.max_message_chars,
                        help="longest message accepted, in characters (default %(default)s; longer: 422)")
    parser.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                        help="allow browser pages from ORIGIN (scheme://host[:port]) to call; repeatable; default: no CORS")


def main(args: argparse.Namespace) -> int:
    """Build the app from the arguments and run it with uvicorn until Ctrl-C."""
    import uvicorn

    from lessonkit.errors import CheckpointPathError
    from lessonkit.postgres import check_database

    from .lesson_app import LessonServe, choose_database, create_lesson_app, describe_database

    load_env()
    try:
        settings = serve_settings(args)
        database = choose_database(args.database)
        if isinstance(database, str):  # a Postgres URL: say now if it cannot be reached, not in a startup traceback
            check_database(database)
    except (TokensFileError, ValueError, CheckpointPathError) as error:
        print(f"lessonkit serve: {error}", file=sys.stderr)
        return 2
    if args.tokens is not None and loosely_readable(args.tokens):
        print(f"lessonkit serve: warning: others on this machine can read {args.tokens}; chmod 600 it.", file=sys.stderr)
    mode = parse_mode(args.mode, "--mode") if args.mode else active_mode()
    options = LessonServe(mode=mode, speed=args.speed, database=database, approve_tools=args.approve_tools)
    recording = settings.recordings_dir / f"{settings.lesson}.json"
    print(f"lessonkit serve · {mode} mode · http://{args.host}:{args.port} · threads in {describe_database(database)}", file=sys.stderr)
    if mode == "replay" and not recording.exists():
        print(f"lessonkit serve: no recording at {recording}; every turn will fail with RecordingMissError. "
              "Pass --recordings/--lesson, or record it with keys.", file=sys.stderr)
    who = f"tokens for {len(settings.tokens.users)} users" if settings.tokens else "no tokens: one local user, this machine only"
    print(f"lessonkit serve: {who} · at most {settings.max_streams} streams · CORS {', '.join(settings.cors_origins) or 'off'}", file=sys.stderr)
    uvicorn.run(create_lesson_app(options, settings), host=args.host, port=args.port, log_level=args.log_level,
                ws_max_size=settings.max_body_bytes)
    return 0


def serve_settings(args: argparse.Namespace) -> ServeSettings:
    """The settings the arguments ask for; TokensFileError or ValueError (with what to do) before anything binds."""
    tokens = load_tokens(args.tokens) if args.tokens is not None else None
    refusal = bind_refusal(args.host, tokens is not None)
    if refusal:
        raise ValueError(refusal)
    defaults = ServeSettings()
    return dataclasses.replace(defaults, heartbeat_s=args.heartbeat, run_timeout_s=args.run_timeout,
                               recordings_dir=args.recordings, lesson=args.lesson, tokens=tokens,
                               max_streams=args.max_streams, max_message_chars=args.max_message_chars,
                               max_body_bytes=max(defaults.max_body_bytes, 8 * args.max_message_chars),
                               cors_origins=tuple(args.cors_origin))
