"""Contract fakes of the social channels, each a real HTTP server on 127.0.0.1.

Each fake follows /work/shared/channels.md (status codes, field and header names, error
bodies) and was written from that document alone, independently of the adapters::

    with FakeMastodon() as fake:
        ...  # point the adapter at fake.url, then assert on fake.statuses / fake.requests

Common to all (see :mod:`tests.fakes.server`): ``.url``, ``.requests``, ``fail_next()``,
``drop_next(processed=...)``; each fake adds ``rate_limit(seconds)`` and ``reject_token()``
in its channel's own shape.
"""

from tests.fakes.discord import FakeDiscord
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.server import FakeServer, FakeServerError, Reply, Request, UploadedFile
from tests.fakes.slack import GENERAL, FakeSlack, SlackChannel
from tests.fakes.telegram import STOPITNOW, FakeTelegram, TelegramChat

__all__ = [
    "GENERAL",
    "STOPITNOW",
    "FakeDiscord",
    "FakeMastodon",
    "FakeServer",
    "FakeServerError",
    "FakeSlack",
    "FakeTelegram",
    "Reply",
    "Request",
    "SlackChannel",
    "TelegramChat",
    "UploadedFile",
]
