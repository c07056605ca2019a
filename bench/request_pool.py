"""A pool of distinct small chat requests and the wrk script that POSTs them in turn.

Every benchmark server gets the same pool, so that no cache of whole answers can help any of them:
tasks of every kind the answer rules read (caption, question, count, detect, OCR, chat), some with a
system message, a hint or sampling fields, over many subjects.
"""

from __future__ import annotations

import json
import random

MODEL = "isaac-0.2-2b-preview"

_SUBJECTS = (
    "dog", "cat", "bicycle", "car", "tree", "person", "chair", "cup", "bird", "boat", "book", "lamp",
    "window", "door", "flower", "bottle", "phone", "laptop", "sign", "bus", "horse", "clock", "bench",
    "umbrella", "kite", "train", "apple", "banana", "shoe", "hat",
)
_PLACES = (
    "kitchen", "street", "park", "office", "beach", "garden", "station", "market", "classroom", "harbour",
    "forest", "bedroom", "parking lot", "library", "cafe", "bridge", "field", "museum", "airport", "yard",
)
_TEMPLATES = (
    "Describe the {subject} in this {place} scene in detail.",
    "Write a short caption for the photo of the {subject} in the {place}.",
    "What colour is the {subject} near the {place}?",
    "Is there a {subject} in the {place}?",
    "How many {subject}s are in the {place}?",
    "Find every {subject} in the {place}.",
    "Read the text on the {subject} in the {place}.",
    "Tell me something about the {subject} and the {place}.",
    "Summarize what the {subject} is doing in the {place}.",
    "Where is the {subject} in this {place}?",
)
_SYSTEMS = (
    "You are a careful visual assistant.",
    "Answer briefly and precisely.",
    "<hint>BOX</hint>",
)


def request_pool(size: int = 1000, seed: int = 18) -> list[dict]:
    """``size`` distinct requests (at most the number of combinations, 6,000), the same for a seed."""
    rng = random.Random(seed)
    combinations = [(t, s, p) for t in _TEMPLATES for s in _SUBJECTS for p in _PLACES]
    pool = []
    for template, subject, place in rng.sample(combinations, min(size, len(combinations))):
        messages = [{"role": "user", "content": template.format(subject=subject, place=place)}]
        if rng.random() < 0.2:
            messages.insert(0, {"role": "system", "content": rng.choice(_SYSTEMS)})
        request: dict = {"model": MODEL, "messages": messages}
        if rng.random() < 0.2:
            request["temperature"] = rng.choice((0.2, 0.7, 1.0))
        if rng.random() < 0.1:
            request["max_completion_tokens"] = rng.choice((32, 64, 256))
        pool.append(request)
    return pool


def _lua_string(text: str) -> str:
    level = "=" * 3
    assert f"]{level}]" not in text
    return f"[{level}[{text}]{level}]"


def wrk_script(pool: list[dict], key: str = "bench-key") -> str:
    """A wrk script that POSTs the pool's requests in turn (each connection's thread walks the pool)."""
    bodies = ",\n".join(_lua_string(json.dumps(request, separators=(",", ":"))) for request in pool)
    return f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
local bodies = {{
{bodies}
}}
local requests = {{}}
local i = 0
request = function()
  i = i % #bodies + 1
  local r = requests[i]
  if r == nil then
    r = wrk.format(nil, nil, nil, bodies[i])
    requests[i] = r
  end
  return r
end
"""
