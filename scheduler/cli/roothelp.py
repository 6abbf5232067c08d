"""The root help page exactly as Typer prints it on a terminal of 80 columns or more.

Written by ``.venv/bin/python -m scheduler.cli.helppage``, never by hand:
tests/test_cli_startup.py fails when it is not Typer's page. :mod:`scheduler.cli.console`
prints it for ``signpost --help`` and a bare ``signpost`` without importing Typer (issue 14).
"""

PAGE = """\
Usage: signpost [OPTIONS] COMMAND [ARGS]...

  Schedule, approve and publish awareness-campaign posts, with an audit log.

  Nothing goes out unapproved, nothing goes out twice, nothing is lost
  silently.

  Example:

      signpost init

      signpost campaign add stop-it-now --name "Stop It Now" --must-include "0808 1000 900"

      signpost post add --campaign stop-it-now --text "Confidential help: 0808 1000 900"

Options:
  -c, --config <path>  Config file [default: $SIGNPOST_CONFIG or
                       ./config.toml].
  --help               Show this message and exit.

Commands:
  init        Create the database, or upgrade it to this version's schema.
  status      Counts of posts by state, the audit log's length and head,...
  calendar    Every delivery due in a period, in time order, in each...
  report      What went out where: every sent post per channel, its...
  pause       Stop publishing (everything, one campaign or one channel)...
  resume      Lift a pause set with 'signpost pause' (the same scope).
  daemon      Publish approved posts on time until stopped (SIGTERM or...
  demo        Run a self-contained demo campaign in a throwaway workspace.
  web         Serve the review page where approvers read posts as each...
  campaign    Create and inspect campaigns.
  post        Write, check, submit, approve and cancel posts.
  audit       Read, verify and export the hash-chained audit log.
  deliveries  See every delivery, retry one on purpose, or settle an...
  channels    List configured channels and check they work.
  users       Set the passwords people sign in to the web page with, and...
"""
