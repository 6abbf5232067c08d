"""What ``signpost`` loads before it answers (issue 14).

``signpost --help``, and ``signpost`` alone, are answered without Typer: the page is a copy
(``scheduler/cli/roothelp.py``) that must be the very bytes Typer prints, checked here against
Typer's own rendering at full width, and a narrow terminal still gets Typer's own wrapping. No
database, validation, rendering or HTTP library is imported for them either (SQLAlchemy alone is
about 180 ms). Asserted on the modules a real ``signpost`` process has loaded, in a subprocess
of its own, never on a time. And no command's signature costs Typer an ``eval``.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from scheduler.cli.helppage import REGENERATE, typer_answer
from scheduler.cli.roothelp import PAGE

HEAVY = {"sqlalchemy", "sqlmodel", "pydantic", "rich", "alembic", "httpx"}
SIGNPOST = str(Path(sys.executable).with_name("signpost"))

#: runs the console script's main() as ``signpost ARGS`` would, then lists the top-level
#: packages it had imported in the file $PROBE_REPORT
PROBE = """
import json, os, sys
from scheduler.cli import main
sys.argv = ["signpost", *sys.argv[1:]]
try:
    main()
finally:
    with open(os.environ["PROBE_REPORT"], "w") as report:
        json.dump(sorted({name.split(".")[0] for name in sys.modules}), report)
"""


@dataclass(frozen=True)
class Answer:
    """What a ``signpost`` process printed, its exit code and the packages it imported."""

    code: int
    stdout: bytes
    stderr: bytes
    modules: frozenset[str]

    def same_as(self, done: subprocess.CompletedProcess[bytes]) -> bool:
        return (self.code, self.stdout, self.stderr) == (done.returncode, done.stdout, done.stderr)


def signpost(tmp_path: Path, *args: str, columns: int | None = None) -> Answer:
    """``signpost ARGS`` in a process of its own, its output a pipe (not a terminal), on a
    terminal ``columns`` wide if given (``$COLUMNS``); else with no ``$COLUMNS`` at all."""
    report = tmp_path / "modules.json"
    env = {name: value for name, value in os.environ.items() if name != "COLUMNS"}
    env["PROBE_REPORT"] = str(report)
    if columns is not None:
        env["COLUMNS"] = str(columns)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], env=env, capture_output=True, check=False
    )
    modules = frozenset(json.loads(report.read_text()))
    return Answer(done.returncode, done.stdout, done.stderr, modules)


@pytest.mark.parametrize("args", [["--help"], []], ids=["--help", "no arguments"])
def test_the_root_help_imports_neither_typer_nor_any_heavy_library(tmp_path, args):
    # (A group's help, 'signpost post --help', does load pydantic: Typer 0.29 coerces the
    # root's --config through a pydantic TypeAdapter first; docs/decisions.md.)
    answer = signpost(tmp_path, *args)
    assert answer.modules & {"typer", "click", *HEAVY} == set()
    assert PAGE.encode() in (answer.stdout, answer.stderr)


@pytest.mark.parametrize(
    ("args", "columns"),
    [(["--help"], 80), ([], 80), (["--help"], 200)],
    ids=["--help at 80 columns", "no arguments at 80", "--help at 200"],
)
def test_the_stored_page_is_what_typer_prints(tmp_path, args, columns):
    """The same bytes on the same stream with the same exit code: 0 on stdout for
    ``--help``, 2 on stderr for no arguments (Click's usage error)."""
    answer = signpost(tmp_path, *args, columns=columns)
    assert "typer" not in answer.modules
    typer = typer_answer(args, columns)
    assert answer.same_as(typer), (
        "scheduler/cli/roothelp.py is not the root help page Typer prints now"
        f" (a command or its help changed?): run {REGENERATE}"
    )


def test_a_narrow_terminal_gets_typers_own_wrapping(tmp_path):
    answer = signpost(tmp_path, "--help", columns=60)
    assert "typer" in answer.modules
    assert answer.same_as(typer_answer(["--help"], 60))
    assert answer.stdout != PAGE.encode()  # the stored page would have been wrong here


def test_shell_completion_is_still_answered_by_typer(tmp_path, monkeypatch):
    monkeypatch.setenv("_SIGNPOST_COMPLETE", "complete_bash")
    answer = signpost(tmp_path)
    assert "typer" in answer.modules
    assert answer.same_as(typer_answer([], 80))
    assert PAGE.encode() not in answer.stderr


@pytest.mark.parametrize("stored", [True, False], ids=["stored page", "typer (60 columns)"])
def test_a_reader_gone_before_the_page_is_written_gets_exit_code_1_and_no_traceback(stored):
    """``signpost --help | true`` where ``true`` has already quit: as quiet as Typer is."""
    reader, writer = os.pipe()
    os.close(reader)
    columns = 80 if stored else 60
    done = subprocess.run(
        [SIGNPOST, "--help"],
        stdout=writer,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": str(columns)},
        check=False,
    )
    os.close(writer)
    assert (done.returncode, done.stderr) == (1, b"")


def test_no_command_signature_needs_an_eval():
    """Typer reads every command's signature at every start, ``--help`` included; a string
    annotation (``from __future__ import annotations``) is ``eval``ed there, twice per
    command, which cost 26 ms of each start when every command module had it."""
    from scheduler.cli import app

    apps = [app, *(group.typer_instance for group in app.registered_groups)]
    callbacks = [app.registered_callback.callback]
    callbacks += [
        command.callback for typer_app in apps for command in typer_app.registered_commands
    ]
    stringly = sorted(
        f"{callback.__module__}.{callback.__name__}"
        for callback in callbacks
        if any(isinstance(a, str) for a in inspect.get_annotations(callback).values())
    )
    assert len(callbacks) > 40
    assert stringly == []
