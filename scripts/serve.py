"""Serve the API: `python -m scripts.serve [--host H] [--port P] [--workers N]`, what `make run`
runs and what production should run (behind a proxy, see the README's "Production").

Plain `uvicorn server:app` reads request heads without limit in size or time; this runs uvicorn
with `web/protocol.py`, which answers 431 past `MAX_HEADER_BYTES` and closes a connection whose
request head is not complete within `HEADER_TIMEOUT` seconds. Proxy headers (`X-Forwarded-For`,
`X-Forwarded-Proto`) are trusted from `FORWARDED_ALLOW_IPS` only (uvicorn's variable; default
127.0.0.1), since the client IP they give is what per-IP limits count.

SIGTERM (or SIGINT) shuts it down gracefully (docs/shutdown.md): the listening socket is closed
at once (new connections are refused, in every worker process at once), open WebSockets are
closed with 1012 "Service Restart" (clients reconnect, to another process), requests in flight
are finished, and after `SHUTDOWN_TIMEOUT` seconds what is still running is cut. The process
then exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import tempfile

import uvicorn
from uvicorn.supervisors import Multiprocess

from core.settings import Settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.serve", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--workers", type=int,
                        default=int(os.environ.get("WEB_CONCURRENCY", "1")))
    args = parser.parse_args(argv)
    # The app's settings (here, in `server:app` and in every worker) read where it is served
    # from the environment: outside production, an unset PUBLIC_URL follows HOST and PORT.
    os.environ["HOST"], os.environ["PORT"] = args.host, str(args.port)
    settings = Settings.from_env()  # refuse a bad environment before binding the port
    # Metrics of several worker processes (observability/metrics.py): each writes its values
    # under PROMETHEUS_MULTIPROC_DIR and a scrape sums them. Set before the app is imported.
    # Given, the directory is used as it is (empty it before a start: old files count);
    # otherwise several workers get a fresh one, removed when the server stops.
    made = None
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    elif args.workers > 1:
        made = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="relleks-metrics-")
    try:
        serve(args, settings)
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


def serve(args: argparse.Namespace, settings: Settings) -> None:
    config = uvicorn.Config(
        "server:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        http="web.protocol:LimitedHttpToolsProtocol",
        proxy_headers=True,
        # Longer than the clients' and the proxy's idle expiry (KEEPALIVE_TIMEOUT, default 75 s;
        # uvicorn's own default is 5 s): a client reusing an idle connection at the moment the
        # server closes it gets a reset (docs/deployment.md, "Keep-alive").
        timeout_keep_alive=settings.keepalive_timeout,
        # After SIGTERM: requests in flight get this long, then uvicorn cuts them.
        timeout_graceful_shutdown=max(1, round(settings.shutdown_timeout)),
        # The app refuses messages over WS_MAX_MESSAGE_BYTES with its reason; this only keeps
        # uvicorn from buffering 16 MB (its default) before the app sees one.
        ws_max_size=max(settings.ws_max_message_bytes * 4, 1 << 20),
        # No permessage-deflate: our frames are events of a few hundred bytes, which it barely
        # shrinks, while it costs every socket a compressor's memory and every frame a
        # compression (5% of the server's CPU in a fan-out profile, bench/fanout.py).
        ws_per_message_deflate=False,
    )
    # uvicorn re-raises the signal that stopped it once it has shut down; with the default
    # handler that would end the process "killed by SIGTERM" (exit status 143) after a clean
    # shutdown. This handler lets it return, and exit 0.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda signum, frame: None)
    if args.workers > 1:
        Supervisor(config, sockets=[config.bind_socket()]).run()
        return
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        raise SystemExit(3)  # uvicorn's STARTUP_FAILURE


class Supervisor(Multiprocess):
    """uvicorn's supervisor of several worker processes, which stops the shared listening
    socket before asking its workers to stop.

    The workers inherit the supervisor's socket: each closes its own descriptor when it starts
    shutting down, but the supervisor's kept the socket listening, so new connections were
    queued by the kernel and left hanging instead of refused. `shutdown()` (unlike `close()`)
    acts on the socket itself, for every process that holds it: new connections are refused
    from then on."""

    def terminate_all(self) -> None:
        for listening in self.sockets:
            with contextlib.suppress(OSError):
                listening.shutdown(socket.SHUT_RDWR)
        super().terminate_all()


if __name__ == "__main__":
    main()
