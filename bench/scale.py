"""Scale: the gate from compare JSON to verdict and rendered report, on 1,000 to 50,000 rows.

    python bench/scale.py                  # 1,000, 10,000 and 50,000 rows, 3 metrics
    python bench/scale.py --quick          # 1,000 and 10,000 rows
    python bench/scale.py --sizes 2000 --json out.json

For each size this writes, in the exact shape of the REST API (completionkit-api.md §10 compare,
§9.2 responses, scores as decimal strings, responses in pages of 500 as the client reads them), a
synthetic comparison of two runs with two LLM-judge metrics and one check, then measures in a fresh
subprocess (one core: the child is pinned to one CPU where the OS allows):

* ckaction: parse compare + responses JSON into models → decide.evaluate → render_summary +
  render_comment + Report.to_json; wall time of that span, and the child's peak RSS (ru_maxrss),
  next to its RSS after imports (what the interpreter and libraries cost before any data);
* the seed's jq step on the same compare JSON (its exact filter, read from bench/seed_gate.sh):
  wall time and peak RSS of the jq process.

Targets: 10,000 rows under 2 s and 200 MB; 50,000 rows under 5x the 10,000-row time and memory;
summary and comment within GitHub's limits (65,536 characters for a comment, 1 MiB for a summary).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import contextlib

from _common import child_env, machine

HERE = Path(__file__).resolve().parent
PAGE = 500
COMMENT_LIMIT = 65_536  # characters in an issue comment body
SUMMARY_LIMIT = 1024 * 1024  # bytes in a job summary step
METRICS = [
    (11, "Helpfulness", "llm_judge"),
    (12, "Accuracy", "llm_judge"),
    (13, "Mentions order number", "check"),
]


def seed_jq_filter() -> str:
    text = (HERE / "seed_gate.sh").read_text()
    match = re.search(
        r"jq --argjson rt \"\$ROW_TOLERANCE\" --argjson at \"\$AVG_TOLERANCE\" '(.*?)' diff\.json",
        text,
        re.S,
    )
    if not match:
        raise RuntimeError("could not find the seed's jq filter in bench/seed_gate.sh")
    return match.group(1)


# -- synthetic API JSON ------------------------------------------------------------------------------


def _score(value: int) -> str:
    return f"{value}.0"


def synthesize(rows: int, out: Path, seed: int = 7) -> dict[str, int]:
    """Write compare.json and responses-<run>-<page>.json for a baseline (run 1) and candidate (run 2)."""
    rng = random.Random(seed)
    left_base, right_base = 1_000_000, 2_000_000
    compare_rows: list[dict[str, Any]] = []
    baseline: list[dict[str, Any]] = []
    candidate: list[dict[str, Any]] = []
    review_id = 0
    regressed = 0
    for i in range(rows):
        order = str(10000 + i)
        row = {
            "customer_message": f"Ticket {i}: where is my parcel? It was due on Monday.",
            "order_number": order,
            "expected_output": f"Apologise, confirm order #{order} is in transit, give the new date.",
        }
        input_data = json.dumps(row, separators=(",", ":"))
        per_metric = []
        reviews: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
        for metric_id, name, kind in METRICS:
            if kind == "check":
                lp = rng.random() > 0.05
                rp = lp if rng.random() > 0.01 else not lp
                change = "same" if lp == rp else ("broke" if lp else "fixed")
                ls = rs = None
                delta = None
            else:
                lv = rng.choice((3, 4, 4, 4, 5, 5))
                roll = rng.random()
                rv = lv if roll < 0.9 else max(1, min(5, lv + rng.choice((-2, -1, 1))))
                ls, rs = _score(lv), _score(rv)
                delta = float(round(rv - lv, 2))
                lp = rp = None
                change = None
                if delta < -1.0:
                    regressed += 1
            per_metric.append(
                {
                    "metric_id": metric_id,
                    "metric_name": name,
                    "kind": kind,
                    "left_score": ls,
                    "right_score": rs,
                    "left_passed": lp,
                    "right_passed": rp,
                    "left_metric_version_id": metric_id * 10,
                    "right_metric_version_id": metric_id * 10,
                    "delta": delta,
                    "result_change": change,
                }
            )
            for side, score, passed in ((1, ls, lp), (2, rs, rp)):
                review_id += 1
                reviews[side].append(
                    {
                        "id": review_id,
                        "response_id": (left_base if side == 1 else right_base) + i,
                        "metric_id": metric_id,
                        "metric_version_id": metric_id * 10,
                        "metric_name": name,
                        "ai_score": score,
                        "passed": passed,
                        "ai_feedback": (
                            f"The reply {'covers' if side == 1 else 'misses'} the order number and "
                            "the delivery date; it is polite and short."
                        ),
                        "status": "succeeded",
                        "attempts": 1,
                        "error": None,
                    }
                )
        compare_rows.append(
            {
                "left_response_id": left_base + i,
                "right_response_id": right_base + i,
                "row_index": i,
                "per_metric": per_metric,
            }
        )
        for side, target in ((1, baseline), (2, candidate)):
            scored = [float(r["ai_score"]) for r in reviews[side] if r["ai_score"] is not None]
            target.append(
                {
                    "id": (left_base if side == 1 else right_base) + i,
                    "run_id": side,
                    "input_data": input_data,
                    "response_text": f"Sorry about the delay: order #{order} is on its way and "
                    "arrives on Thursday.",
                    "expected_output": row["expected_output"],
                    "created_at": "2025-05-01T12:00:00Z",
                    "score": round(sum(scored) / len(scored), 2) if scored else None,
                    "reviewed": True,
                    "reviews": reviews[side],
                    "status": "succeeded",
                    "attempts": 1,
                    "row_index": i,
                    "error": None,
                }
            )
    compare = {
        "left_run_id": 1,
        "right_run_id": 2,
        "metric_ids": [m[0] for m in METRICS],
        "rows": compare_rows,
    }
    (out / "compare.json").write_text(json.dumps(compare, separators=(",", ":")))
    for run, items in ((1, baseline), (2, candidate)):
        for page, start in enumerate(range(0, len(items), PAGE)):
            (out / f"responses-{run}-{page:04d}.json").write_text(
                json.dumps(items[start : start + PAGE], separators=(",", ":"))
            )
    return {"rows": rows, "regressed_cells": regressed}


# -- the measured child ------------------------------------------------------------------------------


def child(data: Path) -> int:
    """Import, then time parse → evaluate → render → to_json on the files in `data`, through the
    same functions the gate runs: the compare bytes parsed straight into models (as
    `CompletionKitClient.compare` does), each page of responses validated from bytes and reduced to `ResponseFacts` (as
    `Gate.response_facts` does), all under `collector_paused()`, then `Report.to_json`."""
    from decimal import Decimal

    from ckaction.api import page_adapter
    from ckaction.decide import Tolerances, evaluate
    from ckaction.flow import collector_paused
    from ckaction.models import Comparison, Response, ResponseFacts
    from ckaction.render import render_comment, render_summary
    from ckaction.report import Facts, Report, RunRef

    imported_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pause = collector_paused()
    pause.__enter__()
    started = time.perf_counter()
    comparison = Comparison.model_validate_json((data / "compare.json").read_bytes())
    responses: dict[int, dict[int, ResponseFacts]] = {1: {}, 2: {}}
    for run in (1, 2):
        for page in sorted(data.glob(f"responses-{run}-*.json")):
            for response in page_adapter(Response).validate_json(page.read_bytes()):
                responses[run][response.id] = ResponseFacts.of(response)
    parsed = time.perf_counter()
    rss_parsed = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tolerances = Tolerances(row=Decimal("-1.0"), avg=Decimal("-0.2"))
    evaluation = evaluate(
        comparison, tolerances, baseline_responses=responses[1], candidate_responses=responses[2]
    )
    decided = time.perf_counter()
    rss_decided = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    facts = Facts(
        candidate=RunRef(2, "https://completionkit.com/orgs/bench/runs/2", "candidate"),
        baseline=RunRef(1, "https://completionkit.com/orgs/bench/runs/1", "baseline"),
        prompt_id=2,
        prompt_label="Support reply v2",
        dataset_id=1,
        judge_model="gpt-4o-mini",
        evaluation=evaluation,
    )
    report = Report(result=evaluation.result, tolerances=tolerances, facts=facts)
    summary = render_summary(report)
    comment = render_comment(report)
    rendered = time.perf_counter()
    rss_rendered = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report_json = report.to_json(report.outputs())
    finished = time.perf_counter()
    pause.__exit__(None, None, None)
    print(
        json.dumps(
            {
                "seconds": finished - started,
                "parse_s": parsed - started,
                "decide_s": decided - parsed,
                "render_s": rendered - decided,
                "to_json_s": finished - rendered,
                "peak_rss_kb_after_parse": rss_parsed,
                "peak_rss_kb_after_decide": rss_decided,
                "peak_rss_kb_after_render": rss_rendered,
                "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "after_import_rss_kb": imported_rss,
                "result": evaluation.result,
                "rows_regressed": evaluation.counts.regressed,
                "summary_chars": len(summary),
                "summary_bytes": len(summary.encode()),
                "comment_chars": len(comment),
                "comment_bytes": len(comment.encode()),
                "report_json_bytes": len(report_json.encode()),
            }
        )
    )
    return 0


def _pin() -> None:
    if hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def measure_ckaction(data: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(data)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=_pin,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_jq(data: Path) -> dict[str, Any]:
    """The seed's jq step on compare.json: wall time of the jq process, and its own peak RSS."""
    jq = shutil.which("jq")
    if jq is None:
        return {"skipped": "jq not on PATH"}
    command = [jq, "--argjson", "rt", "-1.0", "--argjson", "at", "-0.2", seed_jq_filter()]
    started = time.perf_counter()
    proc = subprocess.run(
        [*command, str(data / "compare.json")],
        capture_output=True,
        timeout=600,
        preexec_fn=_pin,
        check=False,
    )
    elapsed = time.perf_counter() - started
    out = json.loads(proc.stdout) if proc.returncode == 0 else None
    return {
        "seconds": elapsed,
        "peak_rss_kb": _jq_rss(command, data),
        "rows_flagged": len(out["rows"]) if out else None,
        "avgs_flagged": len(out["avgs"]) if out else None,
        "exit_code": proc.returncode,
    }


def _jq_rss(command: list[str], data: Path) -> int:
    """jq's own peak RSS: ru_maxrss of the children of a fresh intermediate process (in this
    process RUSAGE_CHILDREN would be the max over every child so far, the Python ones included)."""
    code = (
        "import resource,subprocess,sys;"
        "subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,check=True);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *command, str(data / "compare.json")],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return int(proc.stdout.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 rows only")
    parser.add_argument("--sizes", default=None, help="comma-separated row counts")
    parser.add_argument("--json", default=None, help="also write the measurements here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(Path(args.child))
    sizes = [
        int(s)
        for s in (args.sizes or ("1000,10000" if args.quick else "1000,10000,50000")).split(",")
    ]
    print(f"machine: {machine()}")
    results = []
    for rows in sizes:
        with tempfile.TemporaryDirectory(prefix=f"ck-scale-{rows}-") as tmp:
            data = Path(tmp)
            meta = synthesize(rows, data)
            compare_mb = (data / "compare.json").stat().st_size / 1e6
            responses_mb = sum(p.stat().st_size for p in data.glob("responses-*.json")) / 1e6
            ck = measure_ckaction(data)
            jq = measure_jq(data)
        results.append(
            {
                "rows": rows,
                "compare_mb": compare_mb,
                "responses_mb": responses_mb,
                "ckaction": ck,
                "jq": jq,
                **meta,
            }
        )
        print(
            f"  {rows:>6} rows: ckaction {ck['seconds']:.2f} s (parse {ck['parse_s']:.2f}, decide "
            f"{ck['decide_s']:.2f}, render {ck['render_s']:.2f}, to_json {ck['to_json_s']:.2f}), peak RSS {ck['peak_rss_kb'] / 1024:.0f} MB "
            f"(after imports {ck['after_import_rss_kb'] / 1024:.0f}, parse "
            f"{ck['peak_rss_kb_after_parse'] / 1024:.0f}, decide {ck['peak_rss_kb_after_decide'] / 1024:.0f}, "
            f"render {ck['peak_rss_kb_after_render'] / 1024:.0f} MB); jq {jq.get('seconds', float('nan')):.2f} s, "
            f"{jq.get('peak_rss_kb', 0) / 1024:.0f} MB; comment {ck['comment_chars']} chars, summary {ck['summary_bytes']} bytes",
            flush=True,
        )
    print()
    print(
        "| rows | compare JSON (MB) | ckaction time (s) | ckaction peak RSS (MB) | jq time (s) | jq peak RSS (MB) | comment chars (limit 65,536) | summary bytes (limit 1,048,576) | within limits |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        ck, jq = r["ckaction"], r["jq"]
        ok = ck["comment_chars"] <= COMMENT_LIMIT and ck["summary_bytes"] <= SUMMARY_LIMIT
        print(
            f"| {r['rows']:,} | {r['compare_mb']:.1f} | {ck['seconds']:.2f} | {ck['peak_rss_kb'] / 1024:.0f} | "
            f"{jq.get('seconds', float('nan')):.2f} | {jq.get('peak_rss_kb', 0) / 1024:.0f} | {ck['comment_chars']:,} | "
            f"{ck['summary_bytes']:,} | {'yes' if ok else 'NO'} |"
        )
    by_rows = {r["rows"]: r["ckaction"] for r in results}
    verdicts = []
    if 10000 in by_rows:
        ten = by_rows[10000]
        verdicts.append(
            f"10,000 rows under 2 s: {'yes' if ten['seconds'] < 2 else 'NO'} ({ten['seconds']:.2f} s)"
        )
        verdicts.append(
            f"10,000 rows under 200 MB: {'yes' if ten['peak_rss_kb'] < 200 * 1024 else 'NO'} ({ten['peak_rss_kb'] / 1024:.0f} MB)"
        )
        if 50000 in by_rows:
            fifty = by_rows[50000]
            verdicts.append(
                f"50k/10k time ratio: {fifty['seconds'] / ten['seconds']:.2f} (target < 5)"
            )
            verdicts.append(
                f"50k/10k peak RSS ratio: {fifty['peak_rss_kb'] / ten['peak_rss_kb']:.2f} (target < 5)"
            )
    limits = all(
        r["ckaction"]["comment_chars"] <= COMMENT_LIMIT
        and r["ckaction"]["summary_bytes"] <= SUMMARY_LIMIT
        for r in results
    )
    verdicts.append(
        f"comment and summary within GitHub's limits at every size: {'yes' if limits else 'NO'}"
    )
    for line in verdicts:
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
