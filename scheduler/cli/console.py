"""The console script ``signpost``: :func:`main`, which prints the root help page itself.

``signpost --help``, and ``signpost`` alone (the root group has ``no_args_is_help``), print a
page that only the command tree's text decides, yet importing Typer takes 2.8 times as long as
starting the interpreter, and issue 14 wants ``--help`` answered in at most 3 times. So this
module imports neither Typer nor a command module at its top: when Typer would print exactly
the copy kept in :mod:`scheduler.cli.roothelp` (a test renders the page with Typer and compares
the bytes), :func:`main` prints that copy to the same stream with the same exit code. Every
other call, a narrow terminal and shell completion included, goes to Typer as before.
"""

import gc
import os
import sys

from scheduler.cli.roothelp import PAGE

PROG = "signpost"
#: Click wraps help to the terminal's width but never wider than this (``HelpFormatter``):
#: on a terminal at least this wide, or on anything that is not a terminal, the page is the same.
CLICK_MAX_WIDTH = 80
#: Set (to anything but ""), Click answers shell completion instead of the command line.
COMPLETE_VAR = f"_{PROG.upper()}_COMPLETE"


def stored_page_is_typers(args: list[str]) -> bool:
    """Whether Typer would answer ``signpost ARGS`` with the stored root help page.

    Only ``--help`` and no arguments at all ask for that page; completion is answered before
    any help; Click names the program after the script, ``sys.argv[0]``, and the page's usage
    line says ``signpost``; and Click wraps the page to ``min(columns, 80)``, the columns from
    ``shutil.get_terminal_size`` (``$COLUMNS``, then the terminal, else 80). ``shutil`` costs
    a few milliseconds, so it is imported last.
    """
    if args not in ([], ["--help"]) or os.environ.get(COMPLETE_VAR):
        return False
    if os.path.basename(sys.argv[0]) != PROG:
        return False
    import shutil

    return shutil.get_terminal_size().columns >= CLICK_MAX_WIDTH


def print_stored_page(args: list[str]) -> None:
    """Print the root help page as Click does: for ``--help`` on stdout (exit 0), for no
    arguments on stderr with exit code 2, the code of a usage error (``NoArgsIsHelpError``).

    A reader that has already gone (``signpost --help | true``) ends it with exit code 1 and no
    traceback, as in Typer; the stream is pointed at /dev/null so that the interpreter's last
    flush of what could not be written fails quietly too.
    """
    stream = sys.stdout if args else sys.stderr
    try:
        stream.write(PAGE)
        stream.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
        sys.exit(1)
    if not args:
        sys.exit(2)


def main() -> None:
    """Console entry point: the stored root help page when it is Typer's, else Typer.

    The garbage collector is off while the modules load: what an import builds (SQLAlchemy,
    SQLModel and pydantic build hundreds of thousands of objects) lives as long as the
    process, so collecting during it finds nothing and cost about 50 ms a database command.
    It is back on as soon as the command's workspace is open
    (:func:`scheduler.cli.options.workspace`), before any row is read or written.

    When the command is done, every object left is moved out of its sight (``gc.freeze``):
    the interpreter's teardown would otherwise walk them all again, which took 130 ms after
    each database command (docs/decisions.md). Nothing is lost: output is flushed, the
    database closed (``call_on_close``) and ``atexit`` handlers run as before; only memory
    the process is about to give back anyway is not collected first.
    """
    args = sys.argv[1:]
    if stored_page_is_typers(args):
        print_stored_page(args)
        return
    gc.disable()
    try:
        from scheduler.cli.commands import app

        app()
    finally:
        gc.freeze()
