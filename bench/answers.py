"""Time to choose one answer, per kind, beside the baseline (the skeleton's plain text reply) measured in
the same run. Plain function calls, no server: ``python bench/answers.py``. Figures move with the machine;
compare the columns, not runs."""

import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perceptron_mock.protocol.validation import parse_request
from perceptron_mock.accounting.prompt import account
from perceptron_mock.answers.choose import choose
from perceptron_mock.answers import reply
from perceptron_mock.answers.seed import rng_for
from perceptron_mock.protocol.catalog import Catalog
from perceptron_mock.settings import Settings
S = Settings()
ENTRY = Catalog.load().get("isaac-0.2-2b-preview")
def body(system, text_, **f):
    m = ([{"role":"system","content":system}] if system else []) + [{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/a.jpg"}},{"type":"text","text":text_}]}]
    return {"model":"isaac-0.2-2b-preview","messages":m, **f}
TOOLS = [{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city"]}}},
         {"type":"function","function":{"name":"list_calendar_events","parameters":{"type":"object","properties":{"date":{"type":"string","format":"date"}},"required":["date"]}}}]
CALL = lambda i, n: {"id":f"call_{i}","type":"function","function":{"name":n,"arguments":"{}"}}
AFTER = {"model":"isaac-0.2-2b-preview","tools":TOOLS,"messages":[{"role":"user","content":"Weather in Paris, and my calendar?"},
         {"role":"assistant","content":None,"tool_calls":[CALL(1,"get_weather"),CALL(2,"list_calendar_events")]},
         {"role":"tool","tool_call_id":"call_1","content":"18 degrees and sunny"},{"role":"tool","tool_call_id":"call_2","content":"10:00 stand-up"}]}
cases = {
 "baseline reply.reply": (body(None, "Hello there"), "baseline"),
 "chat": (body(None, "Hello there"), None),
 "box": (body("<hint>BOX</hint>", "Find every worker wearing PPE."), None),
 "count+think": (body("<hint>BOX THINK</hint>", "Count the safety violations and box each one."), None),
 "ocr": (body(None, "Extract each produce label along with its listed price."), None),
 "json_schema": (body(None, "x", response_format={"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"array","items":{"type":"integer"}}},"required":["a","b"]}}}), None),
 "regex": (body(None, "x", regex=r"[A-Z]{3}-\d{4}"), None),
 "tool calls (2 of 2)": (body(None, "Weather in Paris, and my calendar?", tools=TOOLS), None),
 "after tool results": (AFTER, None),
}
for name, (b, mode) in cases.items():
    req = parse_request(orjson.dumps(b)); p = account(req, S, ENTRY)
    n = 2000; t = time.perf_counter()
    for _ in range(n):
        if mode: reply.reply(p, rng_for(req, p))
        else: choose(req, p)
    print(f"{name:22s} {(time.perf_counter()-t)/n*1e6:8.1f} µs/answer")
