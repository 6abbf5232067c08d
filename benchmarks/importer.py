"""`signpost post import` of a 10,000-row spreadsheet (goal: under 10 s), against a baseline
measured in the same run: reading and parsing the same CSV with the standard library.

    .venv/bin/python benchmarks/importer.py [--rows 10000]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks.*

from benchmarks.workspace import create, signpost
from scheduler.configfile import ConfigFile

#: alice alone, a feed and a webhook that nothing sends to (the import only holds deliveries)
CONFIG = (
    ConfigFile("sqlite:///signpost.db", users={"alice": ["author"]})
    .with_channel("website", "feed", path="feed.atom")
    .with_channel(
        "newsroom", "webhook", url="http://127.0.0.1:9/hook", token_env="SIGNPOST_BENCH_SECRET"
    )
)


def run(config: Path, *args: str) -> float:
    """Seconds ``signpost ARGS`` took as alice (it must succeed)."""
    started = time.perf_counter()
    signpost(config, *args, env=dict(os.environ), actor="alice")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    rows = parser.parse_args().rows
    folder = Path(tempfile.mkdtemp(prefix="signpost-bench-import-"))
    try:
        ws = create(folder, CONFIG, dict(os.environ), "alice")  # init, and the campaign
        ws.store.close()
        config = ws.settings.path
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
