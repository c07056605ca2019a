"""``perceptron-mock verify``: send each recorded request again and compare the answer's shape with the
recording's, one line per recording; exit 0 only when nothing drifted.

Shapes, not text (``perceptron_mock.contract.shapes``): a model's words change, its contract should not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx

from perceptron_mock.answers.fixtures import FixtureFileError, FixtureSpec
from perceptron_mock.answers.fixtures.store import SUFFIXES, read_file
from perceptron_mock.contract import shapes

MAX_ANSWER_BYTES = 16 * 1024 * 1024  # an answer read past this is cut and reported, not held whole


@dataclass(frozen=True)
class Outcome:
    name: str
    differences: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.differences

    def lines(self) -> list[str]:
        if self.ok:
            return [f"ok     {self.name}"]
        return [f"DRIFT  {self.name}: {difference}" for difference in self.differences]


def recordings(directory: Path) -> Iterator[tuple[str, FixtureSpec | None, str | None]]:
    """Each fixture of ``directory`` that holds a recorded request, with its name (or a file's problem)."""
    for path in sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES and p.is_file()):
        try:
            fixtures = read_file(path)
        except FixtureFileError as exc:
            yield path.name, None, str(exc)
            continue
        for fixture in fixtures:
            if fixture.spec.recorded is not None:
                yield fixture.name, fixture.spec, None


def check(client: httpx.Client, against: str, api_key: str, name: str, spec: FixtureSpec) -> Outcome:
    recorded = spec.recorded
    assert recorded is not None
    request = recorded.request
    url = against.rstrip("/") + request.path.removeprefix("/v1")
    headers = {**request.headers, "authorization": f"Bearer {api_key}"}
    try:
        with client.stream(request.method, url, json=request.body, headers=headers) as response:
            body = bytearray()
            for piece in response.iter_bytes():
                body += piece
                if len(body) > MAX_ANSWER_BYTES:
                    return Outcome(name, (f"the answer is over {MAX_ANSWER_BYTES} bytes; not compared",))
    except httpx.HTTPError as exc:
        return Outcome(name, (f"no complete answer from {against} ({type(exc).__name__}: {exc})",))
    fresh = shapes.shape(response.status_code, {k.lower(): v for k, v in response.headers.items()}, bytes(body))
    return Outcome(name, tuple(shapes.drift(recorded.response, fresh)))


def verify(directory: Path, against: str, api_key: str, *, timeout: float = 120.0, echo=print) -> int:
    """Check every recording in ``directory`` against ``against``; 0 when none drifted, else 1."""
    drifted = checked = 0
    with httpx.Client(timeout=timeout) as client:
        for name, spec, problem in recordings(directory):
            outcome = Outcome(name, (f"unreadable: {problem}",)) if spec is None else check(client, against, api_key, name, spec)
            checked += 1
            drifted += not outcome.ok
            for line in outcome.lines():
                echo(line)
    echo(f"{checked} recording{'s' if checked != 1 else ''} checked against {against}: {drifted} drifted")
    return 1 if drifted or not checked else 0
