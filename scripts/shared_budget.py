"""Prove that the compose stack's workers share one rate-limit budget: scripts/containers.sh runs it.

A burst of chat completions from one key goes through the published port on connections held open,
and only once at least two of the container's processes hold some of them is each sent its request.
Per-worker budgets would then admit more than the limit; one budget in Redis admits exactly the limit.
Which process holds a connection is read from /proc (host pids, so run as root on the podman host).

    python3 scripts/shared_budget.py BASE_URL LIMIT CONTAINER_PORT HOST_PID...

Standard library only: it runs on the host's python3, before any project venv exists.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

MIN_REQUESTS = 20  # the burst is at least this big
MAX_CONNECTIONS = 200  # give up spreading the connections over two workers after this many
BATCH = 5
LOOPBACK_HEX = "0100007F:"  # 127.0.0.1 in /proc/net/tcp: the container's own healthcheck, not the burst


def holders(pids: list[int], port: int) -> dict[int, int]:
    """How many established connections to ``port`` from outside the container each pid holds."""
    local = f":{port:04X}"
    counts = {}
    for pid in pids:
        inodes = set()
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
            table = open(f"/proc/{pid}/net/tcp").read().splitlines()[1:]
        except OSError:  # a process that has gone (or a fd closed while listed)
            continue
        held = 0
        for line in table:
            fields = line.split()
            local_addr, remote_addr, state, inode = fields[1], fields[2], fields[3], fields[9]
            if local_addr.endswith(local) and state == "01" and not remote_addr.startswith(LOOPBACK_HEX):
                held += inode in inodes
        if held:
            counts[pid] = held
    return counts


def main() -> None:
    base, limit, port, pids = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), [int(p) for p in sys.argv[4:]]
    url = urlsplit(base)
    connections: list[http.client.HTTPConnection] = []
    spread: dict[int, int] = {}
    while len(connections) < MAX_CONNECTIONS and (len(connections) < MIN_REQUESTS or len(spread) < 2):
        for _ in range(BATCH):
            connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
            connection.connect()
            connections.append(connection)
        time.sleep(0.05)  # let the workers accept
        spread = holders(pids, port)
    if len(spread) < 2:
        sys.exit(f"could not spread {len(connections)} connections over two workers: {spread}")

    key = f"burst-{uuid.uuid4().hex[:12]}"
    body = json.dumps({"model": "isaac-0.2-2b-preview", "messages": [{"role": "user", "content": "burst"}]})
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}

    def send(connection: http.client.HTTPConnection) -> int:
        connection.request("POST", "/v1/chat/completions", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        connection.close()
        return response.status

    with ThreadPoolExecutor(max_workers=len(connections)) as pool:
        statuses = list(pool.map(send, connections))
    counts = {status: statuses.count(status) for status in sorted(set(statuses))}
    workers = ", ".join(str(n) for n in spread.values())
    print(f"{len(statuses)} requests from one key over {len(spread)} workers ({workers} connections): {counts}")
    expected = {200: limit, 429: len(statuses) - limit}
    if counts != expected:
        sys.exit(f"expected {expected} (one budget of {limit} shared by the workers), got {counts}")


if __name__ == "__main__":
    main()
