"""`python -m tools.moonshot_emulator --port 8765`: serve the emulator in the foreground.

Prints the base URL (one line, flushed) once the socket is bound, so a supervisor or a script
can read it; Ctrl-C or SIGTERM stops it. Drive it over HTTP under `/_emulator/` (see control.py).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from typing import Any

import uvicorn

from tools.moonshot_emulator.config import EmulatorConfig
from tools.moonshot_emulator.server import EmulatorServer, bind_socket


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Local Moonshot (Kimi) API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--api-key", default="sk-emulator")
    parser.add_argument("--rpm", type=int)
    parser.add_argument("--tpm", type=int)
    parser.add_argument("--tpd", type=int)
    parser.add_argument("--concurrency", type=int)
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--first-token-delay", type=float, default=0.0)
    parser.add_argument("--max-files", type=int, default=1000)
    parser.add_argument("--access-log", action="store_true")
    return parser.parse_args(argv)


def main(
    argv: list[str] | None = None,
    *,
    wrap: Callable[[Any], Any] | None = None,
    backlog: int = 128,
) -> None:
    """`wrap`: an ASGI middleware put around the emulator's app (the streaming benchmark's clock
    on every chunk); `backlog`: the listening socket's (hundreds of streams connect at once)."""
    args = parse_args(argv)
    config = EmulatorConfig(
        api_key=args.api_key,
        rpm=args.rpm,
        tpm=args.tpm,
        tpd=args.tpd,
        concurrency=args.concurrency,
        chunk_delay=args.chunk_delay,
        first_token_delay=args.first_token_delay,
        max_files=args.max_files,
    )
    emulator = EmulatorServer(config, args.host, args.port, access_log=args.access_log)
    sock = bind_socket(args.host, args.port, backlog)
    emulator.port = sock.getsockname()[1]
    print(emulator.base_url, flush=True)
    uvicorn_config = emulator.uvicorn_config()
    if wrap is not None:
        uvicorn_config.app = wrap(emulator.app)
    uvicorn_config.backlog = backlog
    server = uvicorn.Server(uvicorn_config)
    # uvicorn shuts down gracefully, then re-raises the signal it caught: make that a clean exit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()


if __name__ == "__main__":
    main()
