"""``perceptron-mock``: parse flags into ``Settings`` and run uvicorn.

The flags are generated from ``Settings``; the chosen settings are exported as ``PERCEPTRON_MOCK_*``
variables, so every worker process builds the same app.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import typing

from pydantic import ValidationError

from perceptron_mock.settings import Settings

# Flags whose natural CLI spelling differs from the field name.
_FLAG_NAMES = {"api_keys": "--api-key", "models": "--model", "fixtures_dir": "--fixtures"}


def _flag(name: str) -> str:
    return _FLAG_NAMES.get(name, "--" + name.replace("_", "-"))


def _is_list(annotation: object) -> bool:
    return typing.get_origin(annotation) is list  # pydantic keeps NoDecode in the field's metadata, not here


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perceptron-mock",
        description="An offline stand-in for Perceptron's chat-completions API.",
        epilog="Every flag can also be set as an environment variable: --foo-bar is PERCEPTRON_MOCK_FOO_BAR.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        kwargs: dict = {"dest": name, "default": argparse.SUPPRESS}
        if field.annotation is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif _is_list(field.annotation):
            kwargs["action"] = "append"
            kwargs["metavar"] = name.upper().rstrip("S")
        else:
            kwargs["metavar"] = name.upper()
        kwargs["help"] = f"{field.description} (default: {default if default not in (None, []) else 'unset'})"
        parser.add_argument(_flag(name), **kwargs)
    return parser


def parse_settings(argv: list[str] | None = None) -> Settings:
    parser = build_parser()
    overrides = vars(parser.parse_args(argv))
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        parser.error(f"{_flag(str(first['loc'][0]))}: {first['msg']}")
        raise  # unreachable: parser.error exits


def export(settings: Settings) -> None:
    """Put ``settings`` in the environment, for uvicorn's worker processes."""
    for name, value in settings.model_dump(mode="json").items():
        key = f"PERCEPTRON_MOCK_{name.upper()}"
        if value is None:
            os.environ.pop(key, None)
        elif isinstance(value, list):
            os.environ[key] = json.dumps(value)
        else:
            os.environ[key] = str(value)


def check_fixtures(settings: Settings) -> None:
    """Read the fixtures once before serving: a bad file is named with its problem and nothing starts."""
    from perceptron_mock.answers.fixtures import FixtureFileError, FixtureStore

    try:
        FixtureStore.load(settings.fixtures_dir)
    except FixtureFileError as exc:
        print(f"perceptron-mock: bad fixtures, not starting: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def check_catalog(settings: Settings) -> list[str]:
    """The ids served, read before serving: a bad models file or ``--model`` is named and nothing starts."""
    from perceptron_mock.protocol.catalog import Catalog, CatalogError

    try:
        return Catalog.load(settings.models_file).served(settings.models).ids
    except CatalogError as exc:
        print(f"perceptron-mock: bad model catalog, not starting: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def metrics_directory(settings: Settings) -> str | None:
    """With several workers, a fresh directory for prometheus-client's multiprocess files (exported as
    ``PROMETHEUS_MULTIPROC_DIR`` for the workers), so that /metrics sums every worker's; one the user set
    is kept. Returns the directory to remove at exit, if any."""
    if settings.workers == 1 or not settings.metrics or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    directory = tempfile.mkdtemp(prefix="perceptron-mock-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return directory


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("record", "verify"):  # contract testing (docs: "Contract testing")
        from perceptron_mock.contract.commands import COMMANDS

        COMMANDS[argv[0]](argv[1:])
        return
    settings = parse_settings(argv)
    check_fixtures(settings)
    served = check_catalog(settings)
    temporary = None
    if settings.files_dir is None:  # one directory for every worker's uploads, gone at exit
        from perceptron_mock.files.store import temporary_files_dir

        temporary = temporary_files_dir()
        settings = settings.model_copy(update={"files_dir": temporary})
    export(settings)
    directory = metrics_directory(settings)
    try:
        _serve(settings, served)
    finally:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
        if temporary is not None:
            from perceptron_mock.files.store import remove_dir

            remove_dir(temporary)


def _serve(settings: Settings, served: list[str]) -> None:
    import uvicorn

    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s:     %(name)s - %(message)s")
    logging.getLogger("perceptron_mock").info(
        "perceptron-mock serving %s on http://%s:%d (%d worker%s); keys: %s",
        ", ".join(served),
        settings.host,
        settings.port,
        settings.workers,
        "" if settings.workers == 1 else "s",
        f"{len(settings.api_keys)} configured" if settings.api_keys else "any non-empty key",
    )
    _run(uvicorn, settings)


def _run(uvicorn, settings: Settings) -> None:
    uvicorn.run(
        "perceptron_mock.main:create_worker_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="perceptron_mock.guards.head_reader:HeadLimitedHttpTools",  # httptools, with the request head bounded as it arrives
        log_level=settings.log_level,
        access_log=settings.access_log,
        server_header=False,
    )


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
