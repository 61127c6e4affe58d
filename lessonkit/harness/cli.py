"""``python -m lessonkit`` (or ``lessonkit``): doctor, record, run, serve."""
from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import sys
from pathlib import Path
from typing import Sequence

from . import usage
from ..persistence.database_files import data_folder, database_path
from ..errors import LessonkitError
from .execute import execute_notebook, read_notebook
from .lesson_names import notebook_sources
from . import settings
from .modes import key_status, load_env, resolve_speed
from .recording import Cassette
from .recording.cassette import project_relative, recording_summary
from .record_command import record, recover
from ..support.redact import redact
from .settings import Settings

LIBRARIES = (
    "langgraph", "langgraph-checkpoint", "langgraph-checkpoint-sqlite", "langchain-core", "langchain-openai", "openai",
    "httpx", "langchain-tavily", "aiosqlite", "ipywidgets", "jupyterlab", "nbclient", "nbval", "python-dotenv",
)


def _pins(requirements: Path) -> dict[str, str]:
    pins = {}
    if requirements.exists():
        for line in requirements.read_text().splitlines():
            name, sep, version = line.split("#")[0].strip().partition("==")
            if sep:
                pins[name.lower()] = version
    return pins


def _recording_dirs() -> list[Path]:
    candidates = [settings.raw("recordings_dir"), "notebooks/recordings", "recordings"]
    return [Path(c) for c in candidates if c and Path(c).is_dir()]


def doctor() -> int:
    """Versions, mode, which keys are set (never their values), and every recording found."""
    load_env()
    from .. import __version__

    pins = _pins(Path("requirements.txt"))
    print(f"lessonkit {__version__} · Python {platform.python_version()} · imported from {Path(__file__).resolve().parent}")
    for name in LIBRARIES:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "not installed"
        pinned = pins.get(name)
        flag = "" if pinned in (None, version) else f"  (requirements.txt pins {pinned})"
        print(f"  {name:<28} {version}{flag}")
    try:
        print(f"mode: {settings.active_mode()} ({settings.mode_reason()})")
    except LessonkitError as err:
        print(f"mode: {err}")
    print("keys: " + ", ".join(f"{k} {'set' if v else 'not set'}" for k, v in key_status().items()))
    base_url = os.environ.get("OPENAI_BASE_URL", "").strip()
    if base_url:
        print(f"OPENAI_BASE_URL: {redact(base_url)} (live and record mode talk to this server, not api.openai.com)")
    print(postgres_line())
    here = Path(database_path("lesson.db")).parent
    where = "this folder" if here == Path.cwd() else str(here)
    print(f"databases: a lesson's relative database name goes in {where} (per-user data folder: {data_folder()}, "
          f"set {settings.VARIABLES['data_dir']} to choose)")
    found = [p for d in _recording_dirs() for p in sorted(d.glob("*.json"))]
    print(f"recordings: {len(found)} found" + ("" if found else " (looked in notebooks/recordings and recordings)"))
    for path in found:
        try:
            print(f"  {recording_summary(Cassette(path))}")
        except Exception as err:  # noqa: BLE001 - doctor reports every bad file and goes on
            said = str(err) if isinstance(err, LessonkitError) else f"{type(err).__name__}: {err}"
            print(f"  {project_relative(path)}: UNREADABLE: {redact(said)}")
            continue
        verdict = usage.recording_verdict(path)
        if verdict is not None:
            print(f"    {verdict}")
    if found:
        print(f"usage ledgers: {usage.usage_dir()} (written when `lessonkit run` or `pytest --nbval` runs a whole lesson "
              "without an error)")
    for folder in {p.parent.parent for p in found if p.parent.name == "recordings"}:
        for note in recover(folder, apply=False):
            print(f"  {note}")
        unrecorded = lessons_without_recording(folder)
        if unrecorded:
            print(f"lessons without a recording (replay would miss): {', '.join(unrecorded)}; record them with keys, or "
                  "author one: python -m lessonkit record NOTEBOOK --script SCRIPT")
    return 0


def lessons_without_recording(folder: Path) -> list[str]:
    """Numbered lessons in ``folder`` with no ``recordings/<name>.json`` beside them."""
    return [nb.name for nb in sorted(folder.glob("[0-9][0-9]_*.ipynb")) if not (folder / "recordings" / f"{nb.stem}.json").exists()]


def postgres_line() -> str:
    """Where the server's threads go, and whether this machine can start a throwaway Postgres (lesson 07, tests)."""
    from .. import local_postgres
    from ..postgres import describe_url, is_postgres_url

    url, variable = settings.raw("database_url") or "", settings.VARIABLES["database_url"]
    serve = f"lessonkit serve uses {describe_url(url)} ({variable})" if url and is_postgres_url(url) else \
        f"lessonkit serve uses a per-user SQLite file (set {variable} for Postgres)"
    binaries = local_postgres.find_binaries()
    can = f"server binaries in {binaries}" if binaries else f"no server binaries ({local_postgres.INSTALL_COMMAND}; lesson 07 needs them)"
    return f"postgres: {serve}; {can}"


def new(folder: Path, name: str) -> int:
    """Create a lesson and say what to do next."""
    from .new_lesson import create

    if not folder.is_dir():
        print(f"lessonkit: no lessons folder at {folder} (run from the project root, or pass --folder)", file=sys.stderr)
        return 2
    written = create(folder, name, readme=folder.parent / "README.md")
    for path in written:
        print(f"wrote {path}")
    notebook, script = written[0], written[1]
    print(f"next: write the story, then record it offline: python -m lessonkit record {notebook} --script {script}\n"
          f"      (or live, with keys: python -m lessonkit record {notebook}); see docs/instructors.md")
    return 0


def notebooks_to_run(paths: Sequence[Path]) -> list[Path]:
    """Every notebook named, a folder standing for its numbered lessons (then any other notebooks), in order."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir() and path.suffix != ".ipynb":  # a folder named x.ipynb is reported as not a notebook
            found = sorted(p for p in path.glob("*.ipynb") if not p.name.startswith("."))
            out += [p for p in found if p.name[:2].isdigit()] + [p for p in found if not p.name[:2].isdigit()]
        else:
            out.append(path)
    return list(dict.fromkeys(out))


def run(notebooks: Sequence[Path], speed: str, save: bool) -> int:
    """Execute lessons headless in replay, one after another; exit 1 if a cell of any fails."""
    reports = []
    for notebook in notebooks:
        sources = notebook_sources(read_notebook(notebook))
        env = Settings(mode="replay", replay_speed=resolve_speed(speed, os.environ), usage_dir=usage.usage_dir()).to_env("mode", "replay_speed", "usage_dir")
        # The finish code runs only after every cell ran without an error: it records which answers were used.
        report = execute_notebook(notebook, env, save_to=notebook if save else None,
                                  finish=usage.finish_code(notebook, sources, "lessonkit run"))
        print(report.summary(), flush=True)
        for line in report.finish_output.splitlines():
            print(f"  {line}", flush=True)
        reports.append(report)
    if len(reports) > 1:
        failed = [r.notebook.name for r in reports if not r.ok]
        cells, seconds = sum(r.cells_run for r in reports), sum(r.seconds for r in reports)
        print(f"{len(reports)} notebooks, {cells} code cells run in {seconds:.1f} s: "
              + (f"{len(failed)} failed ({', '.join(failed)})" if failed else "all ok"))
    return 0 if all(r.ok for r in reports) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lessonkit", description="Lesson notebooks on LangGraph persistence and streaming.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="library versions, active mode, which keys are set, recordings found")
    p_run = sub.add_parser("run", help="execute lessons headless in replay and report each (a folder: all its lessons)")
    p_run.add_argument("notebooks", type=Path, nargs="+", metavar="NOTEBOOK_OR_FOLDER")
    p_run.add_argument("--speed", default="0", help="replay pacing, 0 (instant) to 1 (as recorded)")
    p_run.add_argument("--save", action="store_true", help="write the outputs back into the notebook")
    p_rec = sub.add_parser("record", help="re-execute a lesson in record mode and save refreshed outputs")
    p_rec.add_argument("notebook", type=Path)
    p_rec.add_argument("--script", type=Path, help="author offline: answer from this script file instead of OpenAI")
    p_rec.add_argument("--missing-only", action="store_true", help="keep what is recorded; record only new requests")
    p_rec.add_argument("--strict", action="store_true", help="fail (replacing nothing) when the script has unused or empty replies")
    p_new = sub.add_parser("new", help="create a lesson from the template: notebook, script, README row")
    p_new.add_argument("name", help="NN_name (e.g. 08_sharing_threads), or name to number it after the last lesson")
    p_new.add_argument("--folder", type=Path, default=Path("notebooks"), help="the lessons' folder (default notebooks)")
    from ..serve import cli as serve_cli  # the serve command lives in lessonkit/serve/cli.py

    serve_cli.add_arguments(sub.add_parser("serve", help="serve the lesson agent over SSE and WebSocket (replay by default)"))
    args = parser.parse_args(argv)
    try:
        if args.command == "doctor":
            return doctor()
        if args.command == "serve":
            return serve_cli.main(args)
        if args.command == "new":
            return new(args.folder, args.name)
        if args.command == "run":
            notebooks = notebooks_to_run(args.notebooks)
            missing = [str(p) for p in notebooks if not p.exists()]
            if missing or not notebooks:
                print(f"lessonkit: no notebook at {', '.join(missing) or ' '.join(map(str, args.notebooks))}", file=sys.stderr)
                return 2
            return run(notebooks, args.speed, args.save)
        if not args.notebook.exists():
            print(f"lessonkit: no notebook at {args.notebook}", file=sys.stderr)
            return 2
        return record(args.notebook, args.script, args.missing_only, args.strict)
    except LessonkitError as err:
        print(f"lessonkit: {redact(str(err))}", file=sys.stderr)
        return 2
