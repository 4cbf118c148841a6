"""`python -m ckaction.emulator`: serve the emulator on 127.0.0.1 until interrupted.

    python -m ckaction.emulator --seed-demo --port 8787 --ready-file emulator.ready

Used by the self-test workflows and by bench/; prints the API root and, with --ready-file, writes
it to that file once the server accepts connections.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from ckaction.emulator import Emulator, EmulatorServer, seed_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ckaction.emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--org", default="demo")
    parser.add_argument("--token", default="ck-demo-token-not-a-secret")
    parser.add_argument("--seed-demo", action="store_true", help="seed the demo prompt family")
    parser.add_argument("--run-seconds", type=float, default=2.0)
    parser.add_argument("--ready-file", default=None)
    args = parser.parse_args(argv)
    emulator = Emulator(token=args.token, org=args.org)
    emulator.run_duration = args.run_seconds
    if args.seed_demo:
        seed_demo(emulator)
    server = EmulatorServer(emulator, host=args.host, port=args.port)
    server.start()
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
