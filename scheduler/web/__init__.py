"""The approvers' review page (``signpost web``, DESIGN §11).

A server-rendered Starlette application over the same ``posts/`` rules as the CLI: it shows
what awaits a reviewer and exactly what each channel will receive, and hands approvals,
rejections, retries and pauses to ``posts.workflow`` and ``posts.deliveries`` unchanged.
Nothing here decides what may be approved.

- ``app``: the application, its middleware (sessions, CSRF, security headers) and errors.
- ``site``: what every request handler shares (workspace, templates, the signed-in actor).
- ``signin``: password and OpenID Connect sign-in, sign-out, the throttle.
- ``pages``: the queue, the post page, the calendar, deliveries needing a person.
- ``actions``: the forms that change something, each one write transaction.
- ``serve``: binding the port and running uvicorn in the foreground.

It needs the ``web`` extra (``pip install 'signpost[web]'``) and no channel secret: it never
sends anything itself.
"""
