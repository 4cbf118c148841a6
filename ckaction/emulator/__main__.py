"""`python -m ckaction.emulator`: serve the emulator on 127.0.0.1 until interrupted.

    python -m ckaction.emulator --seed-demo --port 8787 --ready-file emulator.ready

Used by the self-test workflows and by bench/; prints the API root and, with --ready-file, writes
it to that file once the server accepts connections. `--help` lists the demo data's token and ids.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from ckaction.emulator.records import slugify
from ckaction.emulator.seed import DEMO_ROWS, seed_demo
from ckaction.emulator.server import EmulatorServer
from ckaction.emulator.state import Emulator

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
DEFAULT_ORG = "demo"
DEMO_TOKEN = "ck-demo-token-not-a-secret"  # fixed and public, like demo.DEMO_TOKEN
DEFAULT_RUN_SECONDS = 2.0
EXIT_CANNOT_LISTEN = 2


def demo_data_help() -> str:
    """What --seed-demo creates, read off a throwaway emulator seeded the same way."""
    emulator = Emulator(token=DEMO_TOKEN, org=DEFAULT_ORG)
    ids = seed_demo(emulator)
    metrics = ", ".join(f"{i} {emulator.get_metric(i)['name']}" for i in ids.metric_ids)
    dataset = emulator.get_dataset(ids.dataset_id)["name"]
    live = emulator.get_prompt(ids.prompt_v1_id)
    root = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}{emulator.api_root_path}"
    return f"""\
with --seed-demo (and the default --org and --token), point a workflow at:
  api-url    {root}
  api-token  {DEMO_TOKEN}  (fixed and public: not a secret)
  prompt-id  {ids.prompt_v2_id}  (v2, the draft candidate; it regresses one row on {ids.regressed_metric_name})
or, for prompt files (README, "Try prompt files"), pull the live prompt:
  pull       ckaction pull "{live["name"]}" --dir prompts/  (writes prompts/{slugify(live["name"])}.yml)
ids the demo data gets:
  prompts    {ids.prompt_v1_id} (v1, current) and {ids.prompt_v2_id} (v2, draft), one family
  dataset    {ids.dataset_id} "{dataset}" ({len(DEMO_ROWS)} rows)
  metrics    {metrics}
  runs       {ids.baseline_run_id} (v1's completed baseline run, judge {ids.judge_model})
"""


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ckaction.emulator",
        description="Serve an emulated CompletionKit API until interrupted (SIGTERM or Ctrl-C).\n"
        "Prints the API root once it accepts connections.",
        epilog=demo_data_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port, 0 for any free one (default: %(default)s)",
    )
    parser.add_argument(
        "--org", default=DEFAULT_ORG, help="org in the API root path (default: %(default)s)"
    )
    parser.add_argument(
        "--token", default=DEMO_TOKEN, help="the bearer token it accepts (default: the demo token)"
    )
    parser.add_argument(
        "--seed-demo",
        action="store_true",
        help="create the demo data: a prompt family, a dataset, metrics and a baseline run",
    )
    parser.add_argument(
        "--run-seconds",
        type=float,
        default=DEFAULT_RUN_SECONDS,
        help="seconds from generate to a completed run (default: %(default)s)",
    )
    parser.add_argument(
        "--ready-file",
        default=None,
        help="write the API root to this file once the server accepts connections",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    emulator = Emulator(token=args.token, org=args.org)
    emulator.run_duration = args.run_seconds
    if args.seed_demo:
        seed_demo(emulator)
    server = EmulatorServer(emulator, host=args.host, port=args.port)
    try:
        server.start()
    except OSError as exc:  # a busy port, an address not on this machine: one line, no traceback
        print(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc} "
            "(another emulator may still be running; stop it, or pick a free port with --port 0)",
            file=sys.stderr,
        )
        return EXIT_CANNOT_LISTEN
    print(server.url, flush=True)
    if args.ready_file:
        Path(args.ready_file).write_text(server.url + "\n", encoding="utf-8")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
