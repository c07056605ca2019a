"""What a ``response_format`` schema is refused with, and the bounds on the work one request may do.

Every bound is a count (values, characters, steps), never time: the same request always gets the same answer.
"""

from __future__ import annotations

from perceptron_mock.protocol.errors import APIError

PARAM = "response_format.json_schema.schema"
SHALLOW_DEPTH = 6
MAX_DEPTH = 40
MAX_NODES = 5_000
MAX_STRING = 2_000
MAX_CHARS = 500_000  # far past what fits in a completion budget (8K tokens on the real service)
MAX_ITEMS = 500
ATTEMPTS = 6
# What a schema may be, checked before anything else (docs/limits.md). Checking a subschema against
# the 2020-12 meta-schema costs ~0.2 ms, so 5,000 (OpenAI's Structured Outputs allow 5,000 properties in
# all) are about a second, in a worker thread.
MAX_SCHEMA_BYTES = 1024 * 1024
MAX_SCHEMA_VALUES = 100_000
MAX_SCHEMA_NODES = 5_000
MAX_SCHEMA_DEPTH = 64
# Steps one request's answer may take, all attempts together: a value built, a keyword merged, a
# subschema entered while validating (10-40 µs each). A 4,500-value answer takes about 9,000.
MAX_WORK = 50_000


class Unsatisfiable(Exception):
    def __init__(self, keyword: str, where: str, why: str) -> None:
        super().__init__(why)
        self.keyword, self.where, self.why = keyword, where, why


def _clip(text: str, most: int = 500) -> str:
    """A refusal quotes the schema's values and locations: a few hundred characters of them, not megabytes."""
    return text if len(text) <= most else text[: most - 1] + "…"


def refuse(keyword: str, where: str, why: str) -> APIError:
    location = f" at '{_clip(where, 200)}'" if where else ""
    return APIError(
        400, f"Unsupported JSON schema keyword '{_clip(keyword, 200)}'{location}: {_clip(why)}.", param=PARAM, code="unsupported_json_schema"
    )


def unsatisfiable(keyword: str, where: str, why: str) -> APIError:
    location = f" at '{_clip(where, 200)}'" if where else ""
    return APIError(
        400,
        f"Could not produce JSON valid against the schema: keyword '{_clip(keyword, 200)}'{location} cannot be satisfied ({_clip(why)}).",
        param=PARAM,
        code="unsatisfiable_json_schema",
    )


def too_complex(why: str) -> APIError:
    return APIError(400, f"Could not produce JSON valid against the schema: {why}.", param=PARAM, code="unsatisfiable_json_schema")


def invalid(where: str, why: str, keyword: str | None) -> APIError:
    named = f" (keyword '{_clip(keyword, 200)}')" if keyword else ""
    location = f" at '{_clip(where, 200)}'" if where else ""
    return APIError(400, f"Invalid JSON schema{location}{named}: {_clip(why)}", param=PARAM, code="invalid_json_schema")


JSON_KIND = {list: "an array", str: "a string", int: "a number", float: "a number", type(None): "null"}


def pointer(parts) -> str:
    return "/".join(str(part) for part in parts)


def too_large(why: str) -> APIError:
    return APIError(400, f"The JSON schema is too large: {why}.", param=PARAM, code="json_schema_too_large")
