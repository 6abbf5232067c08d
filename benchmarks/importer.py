"""`signpost post import` of a 10,000-row spreadsheet (goal: under 10 s), against a baseline
measured in the same run: reading and parsing the same CSV with the standard library.

    .venv/bin/python benchmarks/importer.py [--rows 10000]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIGNPOST = Path(sys.executable).with_name("signpost")
CONFIG = """\
[security]
allow_actor_override = true
[users.alice]
roles = ["author"]
[channels.website]
type = "feed"
path = "feed.atom"
[channels.newsroom]
type = "webhook"
url = "http://127.0.0.1:9/hook"
token_env = "SIGNPOST_BENCH_SECRET"
"""


def run(config: Path, *args: str) -> float:
    env = {**os.environ, "SIGNPOST_ACTOR": "alice"}
    started = time.perf_counter()
    subprocess.run(
        [str(SIGNPOST), "--config", str(config), *args],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    rows = parser.parse_args().rows
    folder = Path(tempfile.mkdtemp(prefix="signpost-bench-import-"))
    try:
        config = folder / "config.toml"
        config.write_text(CONFIG, encoding="utf-8")
        run(config, "init")
        run(
            config,
            "campaign",
            "add",
            "stop-it-now",
            "--name",
            "Stop It Now",
            "--must-include",
            "0808 1000 900",
        )
        sheet = folder / "plan.csv"
        with sheet.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["text", "at", "channels", "variant:website"])
            for i in range(rows):
                writer.writerow(
                    [
                        f"Post {i}: confidential help on 0808 1000 900",
                        f"2030-01-{1 + i % 28:02d} {9 + i % 8:02d}:{i % 60:02d}",
                        "newsroom,website",
                        f"Feed {i}: 0808 1000 900",
                    ]
                )
        started = time.perf_counter()
        with sheet.open(newline="", encoding="utf-8") as source:
            parsed = sum(1 for _ in csv.DictReader(source))
        baseline = time.perf_counter() - started
        dry = run(config, "post", "import", str(sheet), "--campaign", "stop-it-now", "--dry-run")
        real = run(config, "post", "import", str(sheet), "--campaign", "stop-it-now", "--submit")
        verify = run(config, "audit", "verify")
        print(f"rows: {rows:,} ({parsed:,} parsed by the baseline)")
        print(f"baseline, csv.DictReader only: {baseline * 1000:,.0f} ms")
        print(f"post import --dry-run (checks every row): {dry:.2f} s ({dry / baseline:,.0f}x)")
        print(f"post import --submit (checks and writes): {real:.2f} s ({real / baseline:,.0f}x)")
        print(f"audit verify afterwards: {verify:.2f} s")
        print(f"goal: {rows:,} rows under 10 s: {'met' if real < 10 else 'MISSED'}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
