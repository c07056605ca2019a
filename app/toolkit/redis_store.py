"""The journal and the fault queue in Redis, so that every worker and replica shares one of each.

Each operation is one Lua script, so concurrent workers never lose an entry or spend one use of a
fault twice.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import orjson

from perceptron_mock.storage import STORAGE_ERRORS, outage
from perceptron_mock.protocol.faults import Fault, parse
from perceptron_mock.toolkit.faults import QueuedFault
from perceptron_mock.toolkit.journal import public_headers
from perceptron_mock.toolkit.journal_entry import Entry

log = logging.getLogger("perceptron_mock")

PREFIX = "perceptron-mock:"
JOURNAL = PREFIX + "journal"
JOURNAL_IDS = PREFIX + "journal:ids"
FAULTS = PREFIX + "faults"
FAULT_IDS = PREFIX + "faults:ids"

_APPEND = """
local id = redis.call('INCR', KEYS[2])
redis.call('RPUSH', KEYS[1], id .. ':' .. ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
return id
"""

_CLEAR = """
local count = redis.call('LLEN', KEYS[1])
redis.call('DEL', KEYS[1])
return count
"""

# One test's items only (ARGV[1], the test id): a fault's "test_id" field, a journal entry's after its "id:".
_CLEAR_TEST = """
local items = redis.call('LRANGE', KEYS[1], 0, -1)
local removed = 0
for i, raw in ipairs(items) do
  local data = raw
  if KEYS[1] ~= KEYS[2] then data = string.sub(raw, string.find(raw, ':', 1, true) + 1) end
  local item = cjson.decode(data)
  if item.test_id == ARGV[1] then
    redis.call('LSET', KEYS[1], i - 1, '')
    removed = removed + 1
  end
end
redis.call('LREM', KEYS[1], 0, '')
return removed
"""

# ARGV: 1 if the request streams, else 0; the request's model; its test id ('' for none).
_TAKE = """
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for i, raw in ipairs(items) do
  local item = cjson.decode(raw)
  local test = item.test_id or ''
  if (item.model == '' or item.model == ARGV[2]) and (ARGV[1] == '1' or not item.streams_only)
     and (ARGV[3] == '' or test == '' or test == ARGV[3]) then
    if item.remaining <= 1 then
      redis.call('LSET', KEYS[1], i - 1, '')
      redis.call('LREM', KEYS[1], 1, '')
    else
      item.remaining = item.remaining - 1
      redis.call('LSET', KEYS[1], i - 1, cjson.encode(item))
    end
    return item.spec
  end
end
return false
"""


class RedisJournal:
    remote = True  # a request in which Redis already failed does not try again to write its entry

    def __init__(self, client: Any, size: int) -> None:
        self.size = size
        self._redis = client
        self._append = self._redis.register_script(_APPEND)
        self._clear = self._redis.register_script(_CLEAR)
        self._clear_test = self._redis.register_script(_CLEAR_TEST)
        self._outage = outage(client)

    async def add(self, entry: Entry | dict[str, Any]) -> None:
        fields = entry.stored() if isinstance(entry, Entry) else entry
        data = {
            **fields,
            "body": base64.b64encode(fields["body"]).decode(),
            "answer_chunks": [base64.b64encode(chunk).decode() for chunk in fields.get("answer_chunks", ())],
            "headers": [(k.decode("latin-1"), v.decode("latin-1")) for k, v in public_headers(fields["headers"])],
        }
        # The request was answered: losing its journal entry must not fail it.
        try:
            with self._outage.watching("writing the journal"):
                number = await self._append(keys=[JOURNAL, JOURNAL_IDS], args=[orjson.dumps(data), self.size])
        except STORAGE_ERRORS:
            return  # logged once per outage
        except Exception:
            log.warning("could not write the journal to Redis", exc_info=True)
            return
        if isinstance(entry, Entry):
            entry.id = number
        else:
            entry["id"] = number

    async def entries(self) -> list[dict[str, Any]]:
        raw = await self._redis.lrange(JOURNAL, 0, -1)
        out = []
        for item in raw:
            id_, _, data = item.partition(b":")
            entry = orjson.loads(data)
            entry["id"] = int(id_)
            entry["body"] = base64.b64decode(entry["body"])
            entry["answer_chunks"] = [base64.b64decode(chunk) for chunk in entry.get("answer_chunks", ())]
            out.append(entry)
        return out

    async def clear(self, test_id: str | None = None) -> int:
        if test_id is not None:
            return int(await self._clear_test(keys=[JOURNAL, FAULTS], args=[test_id]))
        return int(await self._clear(keys=[JOURNAL]))


class RedisFaults:
    def __init__(self, client: Any) -> None:
        self._redis = client
        self._take = self._redis.register_script(_TAKE)
        self._clear = self._redis.register_script(_CLEAR)
        self._clear_test = self._redis.register_script(_CLEAR_TEST)
        self._outage = outage(client)

    async def push(self, fault: Fault, count: int, model: str | None, test_id: str | None = None) -> QueuedFault:
        number = await self._redis.incr(FAULT_IDS)
        queued = QueuedFault(id=f"fault_{number}", fault=fault, remaining=count, model=model, test_id=test_id)
        item = {
            "id": queued.id,
            "spec": fault.spec,
            "remaining": count,
            "model": model or "",
            "streams_only": fault.streams_only,
            "test_id": test_id or "",
        }
        await self._redis.rpush(FAULTS, orjson.dumps(item))
        return queued

    async def take(self, *, stream: bool, model: str, test_id: str | None = None) -> Fault | None:
        # A storage error goes up to Faults.pick, which marks the request so it does not wait on Redis again.
        with self._outage.watching("reading the fault queue"):
            spec = await self._take(keys=[FAULTS], args=[1 if stream else 0, model, test_id or ""])
        return parse(spec.decode()) if spec else None

    async def list(self) -> list[QueuedFault]:
        raw = await self._redis.lrange(FAULTS, 0, -1)
        out = []
        for item in map(orjson.loads, raw):
            out.append(
                QueuedFault(
                    id=item["id"], fault=parse(item["spec"]), remaining=item["remaining"], model=item["model"] or None,
                    test_id=item.get("test_id") or None,
                )
            )
        return out

    async def clear(self, test_id: str | None = None) -> int:
        if test_id is not None:
            return int(await self._clear_test(keys=[FAULTS, FAULTS], args=[test_id]))
        return int(await self._clear(keys=[FAULTS]))
