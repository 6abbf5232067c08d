"""What a post's images allow, per channel, checked before approval (DESIGN §10).

Threads fetches images from a public URL, so an image for it needs ``[media]``; X takes at
most four images, Threads one. ``post check`` names the channel and the keys, exits 1 and
changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ADD_CAMPAIGN, HELPLINE, Signpost, dump, team_config
from tests.database import TestDatabase

TEXT = f"Confidential help to stop: {HELPLINE}."


@pytest.fixture
def with_threads(signpost: Signpost, database: TestDatabase, tmp_path: Path):
    """The test team's config plus a Threads channel; ``media=True`` adds [media]."""

    def write(media: bool) -> Path:
        config = team_config(database.url).with_channel(
            "threads", "threads", user_id="1784", token_env="SIGNPOST_TEST_THREADS_TOKEN"
        )
        if media:
            config = config.with_table(
                "media", public_dir="public", public_url="https://www.example.org/media"
            )
        return config.write(tmp_path / ("media.toml" if media else "plain.toml"))

    plain = write(False)
    assert signpost("carol", "init", config=plain).exit_code == 0
    assert signpost("carol", *ADD_CAMPAIGN, config=plain).exit_code == 0
    return write


def images(tmp_path: Path, count: int) -> list[str]:
    args = []
    for n in range(count):
        picture = tmp_path / f"card{n}.png"
        picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes([n]) * 32)
        args += ["--image", str(picture), "--alt", f"Helpline card {n}"]
    return args


def add(signpost: Signpost, config: Path, *args: str) -> int:
    result = signpost(
        "alice",
        "post",
        "add",
        "--campaign",
        "stop-it-now",
        "--text",
        TEXT,
        *args,
        "--format",
        "json",
        config=config,
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["id"]


def check(signpost: Signpost, config: Path, post_id: int) -> tuple[int, list[dict]]:
    result = signpost("alice", "post", "check", str(post_id), "--format", "json", config=config)
    return result.exit_code, json.loads(result.stdout)


def test_an_image_for_threads_needs_the_public_media_folder(
    signpost: Signpost, with_threads, tmp_path: Path, database: TestDatabase
) -> None:
    plain, media = with_threads(False), with_threads(True)
    post = add(signpost, plain, *images(tmp_path, 1), "--channels", "threads")
    before = dump(database)

    code, problems = check(signpost, plain, post)

    assert code == 1
    assert problems == [
        {
            "field": "image",
            "message": "threads (threads) fetches images from a public URL: set [media]"
            " public_dir and public_url in the config",
            "channel": "threads",
        }
    ]
    assert dump(database) == before
    assert check(signpost, media, post) == (0, [])


def test_x_takes_four_images_and_threads_one(
    signpost: Signpost, with_threads, tmp_path: Path
) -> None:
    media = with_threads(True)
    post = add(signpost, media, *images(tmp_path, 5), "--channels", "x,threads")

    code, problems = check(signpost, media, post)

    assert code == 1
    assert [(p["channel"], p["message"]) for p in problems] == [
        ("threads", "threads (threads) takes at most 1 image a post, this one has 5"),
        ("x", "x (x) takes at most 4 images a post, this one has 5"),
    ]
