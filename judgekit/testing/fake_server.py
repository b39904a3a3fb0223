"""``judgekit-fake``: run the fake provider in a terminal, to try judgekit without a key.

Prints where it listens and the ``export`` line the bundled configs
(``configs/demo.toml``, ``configs/three_protocols.example.toml``) read, then
serves until Ctrl-C or SIGTERM and exits 0::

    $ judgekit-fake
    judgekit fake provider: a stand-in judge (token overlap, not a model), no key needed
    listening on http://127.0.0.1:8765 (OpenAI: http://127.0.0.1:8765/v1, Anthropic: http://127.0.0.1:8765)
    export JUDGEKIT_FAKE_URL=http://127.0.0.1:8765
    Ctrl-C to stop

The port is fixed (8765) so that the line above stays true from one session
to the next, and the cache of an earlier run keeps hitting (the URL is part of
the cache key); ``--port 0`` takes any free port.  A port in use is one line
``error: ...`` and exit 2.  Tests and benchmarks use ``FakeProvider`` or
``python -m judgekit.testing.fake_provider`` instead: ``switches_main`` below,
every ``FakeSettings`` switch as a flag, one line ``listening on URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import errno
import signal
import socket
import sys
from collections.abc import Callable, Sequence

from judgekit.testing.fake_provider import FakeProvider
from judgekit.testing.fake_settings import FakeSettings

DEFAULT_PORT = 8765
"""The port ``judgekit-fake`` listens on unless told otherwise (README shows it)."""
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="judgekit-fake",
        description=(
            "Run judgekit's fake LLM provider on this machine: a stand-in judge that speaks "
            "the OpenAI Chat Completions, OpenAI Responses and Anthropic Messages APIs and "
            "scores token overlap. For trying judgekit without an API key; not a model."
        ),
    )
    parser.add_argument(
        "--host", default="127.0.0.1", metavar="ADDRESS", help="address to bind (127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        metavar="N",
        help=f"port to listen on ({DEFAULT_PORT}; 0: any free port)",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="wait this long before each answer (0)",
    )
    parser.add_argument(
        "--rate-limit-per-s",
        type=int,
        default=0,
        metavar="N",
        help="answer 429 above N requests per second (0: no limit)",
    )
    return parser


def banner(url: str) -> list[str]:
    """The lines printed once the server listens on ``url`` (``http://HOST:PORT``)."""
    return [
        "judgekit fake provider: a stand-in judge (token overlap, not a model), no key needed",
        f"listening on {url} (OpenAI: {url}/v1, Anthropic: {url})",
        f"export JUDGEKIT_FAKE_URL={url}",
        "Ctrl-C to stop",
    ]


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket; SystemExit(2) with one line when the address cannot be used."""
    try:
        return socket.create_server((host, port), backlog=1024)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            what = f"port {port} on {host} is in use (another judgekit-fake?)"
            fix = "stop it, or pick another port with --port N (0: any free port)"
        else:
            what = f"cannot listen on {host}:{port} ({exc.strerror or exc})"
            fix = "check --host and --port"
        print(f"error: {what}; {fix}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None


async def _serve(
    settings: FakeSettings,
    sock: socket.socket,
    host: str,
    greeting: Callable[[str], Sequence[str]],
    farewell: str | None = None,
) -> None:
    """Serve on ``sock`` until SIGTERM/SIGINT, printing ``greeting(url)`` once listening."""
    provider = FakeProvider(settings, host=host, port=sock.getsockname()[1])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Handlers first: whoever reads the greeting may signal at once.
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await provider.open(sock)
    print("\n".join(greeting(provider.url)), flush=True)
    await stop.wait()
    await provider.close()
    if farewell is not None:
        print(farewell, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until Ctrl-C/SIGTERM (exit 0); exit 2 when the port cannot be used."""
    args = _parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        print(f"error: --port must be between 0 and 65535, got {args.port}", file=sys.stderr)
        return EXIT_USAGE
    # Recording is off: a long session would keep every request in memory.
    settings = FakeSettings(
        latency_ms=args.latency_ms, rate_limit_per_s=args.rate_limit_per_s, record=False
    )
    sock = _bind(args.host, args.port)
    asyncio.run(_serve(settings, sock, sock.getsockname()[0], banner, farewell="stopped"))
    return 0


# -- python -m judgekit.testing.fake_provider: every switch --------------------

_ARG_TYPES: dict[str, type] = {
    "float": float,
    "int": int,
    "str": str,
    "str | None": str,
    "float | None": float,
}


def _switches_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m judgekit.testing.fake_provider",
        description="Loopback fake LLM provider (OpenAI chat/responses, Anthropic messages).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    for f in dataclasses.fields(FakeSettings):
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            # Recording is off from the command line: a benchmark sends millions.
            default = False if f.name == "record" else f.default
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        else:
            parser.add_argument(flag, type=_ARG_TYPES[str(f.type)], default=f.default)
    return parser


def switches_main(argv: Sequence[str] | None = None) -> int:
    """``python -m judgekit.testing.fake_provider``: serve until SIGTERM/SIGINT with every
    ``FakeSettings`` switch as a flag; recording is off unless --record."""
    args = vars(_switches_parser().parse_args(argv))
    host, port = args.pop("host"), args.pop("port")
    sock = socket.create_server((host, port), backlog=1024)
    asyncio.run(_serve(FakeSettings(**args), sock, host, lambda url: [f"listening on {url}"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
