"""Benchmark: the mock's RSS growth while a 120 MiB file is uploaded (issue 15: under 16 MiB, since it
streams to disk), beside an idle mock measured over the same seconds, in the same run.

    .venv/bin/python bench/files.py [--mib 120] [--runs 3]

Two mocks (one uvicorn worker each, CPU 0; this client on CPU 1), each with its own --files-dir. The
upload is a real multipart body of known length sent from a file on disk (httpx streams it), so the
client holds none of it either. Per run: the upload's wall time and rate, then for the uploading mock
and the idle one the growth of VmHWM (peak RSS, reset before the run) and of VmRSS (after), in MiB.
Last, the same for downloading the file back (GET /v1/files/{id}/content), and the figures' maximum;
each row also has the slowest ``GET /health`` of the serving mock while it ran (the event loop stays free).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.completions import pin, proc_status_kb, start_mock  # noqa: E402
from bench.hostile import HealthPoller  # noqa: E402
from bench.limits import _reset_peak  # noqa: E402
from tests.server import free_port, stop  # noqa: E402

MIB = 1024 * 1024
TARGET_MIB = 16.0
KEY = {"authorization": "Bearer bench-key"}
# An MP4 start (ftyp isom), so the upload is a supported video and is stored; the rest is random.
MP4_HEAD = (24).to_bytes(4, "big") + b"ftypisom\x00\x00\x02\x00isomavc1"


def make_file(path: str, mib: int) -> None:
    with open(path, "wb") as out:
        out.write(MP4_HEAD)
        for _ in range(mib):
            out.write(os.urandom(MIB))
        out.truncate(mib * MIB)


def memory(pid: int) -> tuple[float, float]:
    return proc_status_kb(pid, "VmRSS") / 1024, proc_status_kb(pid, "VmHWM") / 1024


def measured(pids: dict[str, int], action, poller: HealthPoller) -> tuple[float, dict[str, tuple[float, float]], float]:
    """Wall time of ``action()``, per mock (peak growth, growth after) in MiB over it, and the slowest
    ``GET /health`` of the serving mock meanwhile (ms)."""
    before = {}
    for name, pid in pids.items():
        _reset_peak(pid)
        before[name] = memory(pid)[0]
    started = time.perf_counter()
    action()
    ended = time.perf_counter()
    wall = ended - started
    health, _ = poller.during(started, ended)
    time.sleep(0.2)  # let a freed buffer go back before RSS is read
    growth = {}
    for name, pid in pids.items():
        rss, peak = memory(pid)
        growth[name] = (peak - before[name], rss - before[name])
    return wall, growth, max(health, default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=120, help="size of the uploaded file in MiB")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if pin(1):  # this client on CPU 1, the mocks on CPU 0
        os.sched_setaffinity(0, {1})
    flags = ["--rate-limit-per-minute", "0"]
    with tempfile.TemporaryDirectory() as work:
        source = os.path.join(work, "upload.mp4")
        make_file(source, args.mib)
        ports = {"uploading": free_port(), "idle": free_port()}
        mocks = {
            name: start_mock(port, [*flags, "--files-dir", os.path.join(work, name)]) for name, port in ports.items()
        }
        pids = {name: mock.pid for name, mock in mocks.items()}
        url = f"http://127.0.0.1:{ports['uploading']}"
        worst = 0.0
        poller = HealthPoller(url, timeout=30)
        poller.start()
        try:
            with httpx.Client(base_url=url, headers=KEY, timeout=300) as http:
                http.get("/v1/files")  # warm up: the route's first request imports and builds what it needs
                print(f"{args.mib} MiB upload, target: peak RSS growth < {TARGET_MIB:g} MiB (idle mock beside it)")
                print("| run | what | wall s | MiB/s | uploading mock: peak / after MiB | idle mock: peak / after MiB | /health max ms |")
                print("|---|---|---:|---:|---|---|---:|")
                file_id = None
                for run in range(1, args.runs + 1):
                    answer = {}

                    def upload() -> None:
                        with open(source, "rb") as handle:
                            response = http.post("/v1/files", files={"file": ("clip.mp4", handle, "video/mp4")},
                                                 data={"purpose": "vision"})
                        response.raise_for_status()
                        assert response.json()["bytes"] == args.mib * MIB, response.text
                        answer.update(response.json())

                    wall, growth, health = measured(pids, upload, poller)
                    file_id = answer["id"]
                    worst = max(worst, growth["uploading"][0])
                    print(_row(run, "upload", wall, args.mib, growth, health))

                def download() -> None:
                    with http.stream("GET", f"/v1/files/{file_id}/content") as response:
                        for _ in response.iter_bytes(MIB):
                            pass

                wall, growth, health = measured(pids, download, poller)
                print(_row(1, "download", wall, args.mib, growth, health))
                worst = max(worst, growth["uploading"][0])
        finally:
            poller.done.set()
            for mock in mocks.values():
                stop(mock)
        verdict = "met" if worst < TARGET_MIB else "NOT met"
        print(f"\nlargest peak growth of the serving mock: {worst:.1f} MiB (target < {TARGET_MIB:g} MiB): {verdict}")


def _row(run: int, what: str, wall: float, mib: int, growth: dict[str, tuple[float, float]], health: float) -> str:
    up, idle = growth["uploading"], growth["idle"]
    return (f"| {run} | {what} | {wall:.2f} | {mib / wall:.0f} | {up[0]:+.1f} / {up[1]:+.1f} "
            f"| {idle[0]:+.1f} / {idle[1]:+.1f} | {health:.0f} |")


if __name__ == "__main__":
    main()
