"""What ``signpost`` loads before it answers (issue 14).

``signpost --help`` is answered by Typer alone: none of the database, validation, rendering or
HTTP libraries is imported for it, because each costs more than the whole help page (SQLAlchemy
alone is about 180 ms). Asserted on the modules a real ``signpost`` process has loaded, in a
subprocess of its own, never on a time. And no command's signature costs Typer an ``eval``.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

HEAVY = ("sqlalchemy", "sqlmodel", "pydantic", "rich", "alembic", "httpx")

#: runs the console script's main() as ``signpost ARGS`` would, then names the heavy modules
PROBE = """
import json, sys
from scheduler.cli import main
sys.argv = ["signpost", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
heavy = sorted({name.split(".")[0] for name in sys.modules} & set(HEAVY))
sys.stderr.write("\\n" + json.dumps(heavy) + "\\n")
"""


def loaded(*args: str) -> list[str]:
    """The heavy top-level packages a ``signpost ARGS`` process had imported when it ended."""
    done = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{PROBE}", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stderr.splitlines()[-1])


def test_help_imports_no_database_validation_rendering_or_http_library():
    # (A group's help, 'signpost post --help', does load pydantic: Typer 0.29 coerces the
    # root's --config through a pydantic TypeAdapter first; docs/decisions.md.)
    assert loaded("--help") == []


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
