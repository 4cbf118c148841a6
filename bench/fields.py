"""Bytes a gate downloads for both runs' responses, with and without `fields=`.

    python bench/fields.py                 # 10,000 rows
    python bench/fields.py --rows 1000 --json out.json

Seeds the emulator with a baseline and a candidate run of `--rows` rows (three metrics, the demo's
judge: every score 4, one row regresses), serves it over real HTTP on 127.0.0.1 and pages through
`GET /runs/:id/responses` for both runs (500 a page, as the client reads them) three ways:

* whole responses: what the gate downloaded before it asked for fields;
* the verdict's fields (`ckaction.flow.VERDICT_FIELDS`): what a gate downloads when no row regressed;
* those plus `response_text`: what it downloads when some row regressed.

Counts the body bytes (as sent, no compression) and the requests. No timing: the emulator builds
every row's JSON for each page, so its time says nothing about the engine's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from _common import TOKEN, seeded_emulator

from ckaction.api import PAGE_LIMIT
from ckaction.emulator import serve
from ckaction.flow import response_fields

WAYS: dict[str, tuple[str, ...]] = {
    "whole responses": (),
    "verdict fields": response_fields(with_output=False),
    "verdict fields + response_text": response_fields(with_output=True),
}


def download(http: httpx.Client, run_id: int, fields: tuple[str, ...]) -> tuple[int, int]:
    """(body bytes, pages) of every page of the run's responses."""
    size = pages = offset = 0
    while True:
        params: dict[str, str | int] = {"limit": PAGE_LIMIT, "offset": offset}
        if fields:
            params["fields"] = ",".join(fields)
        response = http.get(f"runs/{run_id}/responses", params=params)
        response.raise_for_status()
        size += len(response.content)
        pages += 1
        offset += PAGE_LIMIT
        if offset >= int(response.headers["X-Total-Count"]):
            return size, pages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    emu, ids = seeded_emulator(args.rows)
    candidate = emu.add_completed_run(
        ids["prompt_id"], ids["dataset_id"], ids["metric_ids"], judge_model=ids["judge_model"]
    )
    runs = (ids["baseline_run_id"], candidate["id"])
    results = []
    with serve(emu) as server:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=server.url + "/", headers=headers, timeout=120) as http:
            for way, fields in WAYS.items():
                downloaded = [download(http, run, fields) for run in runs]
                results.append(
                    {
                        "way": way,
                        "fields": ",".join(fields) or None,
                        "bytes": sum(size for size, _ in downloaded),
                        "requests": sum(pages for _, pages in downloaded),
                    }
                )
    whole = results[0]["bytes"]
    print(f"{args.rows:,} rows, two runs, 3 metrics, pages of {PAGE_LIMIT}, over HTTP on 127.0.0.1")
    print(f"{'download':34} {'bytes':>12} {'of whole':>9} {'requests':>9}")
    for result in results:
        share = f"{result['bytes'] / whole:.0%}"
        print(f"{result['way']:34} {result['bytes']:>12,} {share:>9} {result['requests']:>9}")
    if args.json:
        args.json.write_text(json.dumps({"rows": args.rows, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
