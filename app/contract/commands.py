"""The ``record`` and ``verify`` subcommands of ``perceptron-mock``: their flags, and what each runs."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from perceptron_mock.settings import Settings

DEFAULT_KEY_ENV = "PERCEPTRON_API_KEY"


def record_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perceptron-mock record",
        description="Proxy to the upstream and write each chat completion to DIR as a fixture.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--upstream", required=True, metavar="URL", help="base URL the SDKs use, e.g. https://api.perceptron.inc/v1")
    parser.add_argument("--to", required=True, type=Path, metavar="DIR", help="directory the recordings are written to")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--upstream-key-env",
        metavar="VAR",
        help="environment variable holding the key sent upstream instead of the caller's (unset: the caller's key)",
    )
    parser.add_argument("--upstream-timeout", type=float, default=600.0, metavar="SECONDS", help="wait at most this for each read")
    parser.add_argument("--max-body-bytes", type=int, default=Settings.model_fields["max_body_bytes"].default)
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    return parser


def record(argv: list[str]) -> None:
    args = record_parser().parse_args(argv)
    key = None
    if args.upstream_key_env:
        key = os.environ.get(args.upstream_key_env)
        if not key:
            print(f"perceptron-mock record: ${args.upstream_key_env} is empty or unset", file=sys.stderr)
            raise SystemExit(2)
    if not args.upstream.startswith(("http://", "https://")):
        print(f"perceptron-mock record: --upstream must be an http(s) URL, got {args.upstream!r}", file=sys.stderr)
        raise SystemExit(2)
    import uvicorn

    from perceptron_mock.contract.proxy import RecordingProxy

    app = RecordingProxy(
        args.upstream, args.to, upstream_key=key, timeout=args.upstream_timeout, max_body_bytes=args.max_body_bytes
    )
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s:     %(name)s - %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request upstream: the recorder logs its own
    logging.getLogger("perceptron_mock").info(
        "perceptron-mock recording %s into %s on http://%s:%d", args.upstream, args.to, args.host, args.port
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        server_header=False,
        lifespan="on",
        loop="uvloop",
        http="perceptron_mock.guards.head_reader:HeadLimitedHttpTools",  # a head bounded as it arrives, as the mock's
    )


def verify_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perceptron-mock verify",
        description="Send each recorded request to URL and compare the answers' shape with the recordings'. "
        "Exit 0 when nothing drifted, 1 otherwise.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("directory", type=Path, metavar="DIR", help="directory of recordings")
    parser.add_argument("--against", required=True, metavar="URL", help="base URL to check, e.g. https://api.perceptron.inc/v1")
    parser.add_argument("--api-key", metavar="KEY", help=f"key to send (default: ${DEFAULT_KEY_ENV})")
    parser.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS")
    return parser


def verify(argv: list[str]) -> None:
    args = verify_parser().parse_args(argv)
    key = args.api_key or os.environ.get(DEFAULT_KEY_ENV)
    if not key:
        print(f"perceptron-mock verify: give --api-key or set ${DEFAULT_KEY_ENV}", file=sys.stderr)
        raise SystemExit(2)
    if not args.directory.is_dir():
        print(f"perceptron-mock verify: {args.directory} is not a directory", file=sys.stderr)
        raise SystemExit(2)
    from perceptron_mock.contract.verify import verify as run

    raise SystemExit(run(args.directory, args.against, key, timeout=args.timeout))


COMMANDS = {"record": record, "verify": verify}
