"""The model catalog: the models the mock can serve, what each accepts and its limits (docs/models.md).

Built in from ``models.yaml`` in the package; ``--models-file`` adds entries or replaces whole ones.
A bad file stops start-up with a message naming the file, the entry and the field, as fixtures do.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

BUILT_IN = "models.yaml"  # package data of perceptron_mock

Modality = Literal["image", "video", "audio"]
OutputFormat = Literal["text", "point", "box", "polygon", "clip"]
SamplingParameter = Literal["temperature", "top_p", "top_k", "frequency_penalty", "presence_penalty"]
# Open, as the SDK reads it: a name the mock does not act on is still listed.
Capability = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
# What a client can put in a URL path and the SDK can retrieve: no whitespace, not "." or "..".
ModelId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$")]


class CatalogError(ValueError):
    """A models file or a ``--model`` choice that cannot be served; the message says where and why."""


class Reasoning(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    supported: bool
    always_enabled: bool = False

    @model_validator(mode="after")
    def _always_needs_supported(self) -> "Reasoning":
        if self.always_enabled and not self.supported:
            raise ValueError("always_enabled needs supported: true")
        return self


class ModelEntry(BaseModel):
    """One model of the catalog, as a models file writes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: ModelId
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    capabilities: tuple[Capability, ...] = ()
    modalities: tuple[Modality, ...] = Field(min_length=1)
    output_formats: tuple[OutputFormat, ...] = Field(min_length=1)
    sampling_parameters: tuple[SamplingParameter, ...] = ()
    reasoning: Reasoning
    max_context_tokens: int = Field(ge=1, le=2**31 - 1)
    max_output_tokens: int = Field(ge=1, le=2**31 - 1)
    created: int = Field(ge=0, le=2**63 - 1)
    owned_by: Annotated[str, StringConstraints(min_length=1, max_length=200)] = "perceptron"
    early_access: bool = False
    # Serves POST /v1/chat/completions/multilook. Not a listed capability: the perceptron SDK says
    # "Multilook support is not listed" (perceptron/models.py), so /v1/models does not show it.
    multilook: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> "ModelEntry":
        for field in ("capabilities", "modalities", "output_formats", "sampling_parameters"):
            values = getattr(self, field)
            if len(set(values)) != len(values):
                raise ValueError(f"{field} lists a name twice")
        if self.max_output_tokens > self.max_context_tokens:
            raise ValueError("max_output_tokens is larger than max_context_tokens")
        return self

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities

    def plain(self) -> dict[str, Any]:
        """The entry of ``GET /v1/models``: OpenAI's model object."""
        return {"id": self.id, "object": "model", "created": self.created, "owned_by": self.owned_by}

    def extended(self) -> dict[str, Any]:
        """The entry of ``?extended=true``, keys in the order of the perceptron SDK's ``ModelInfo.to_dict``."""
        out = {
            **self.plain(),
            "name": self.name,
            "capabilities": list(self.capabilities),
            "modalities": list(self.modalities),
            "output_formats": list(self.output_formats),
            "sampling_parameters": list(self.sampling_parameters),
            "reasoning": {"supported": self.reasoning.supported, "always_enabled": self.reasoning.always_enabled},
            "max_context_tokens": self.max_context_tokens,
            "max_output_tokens": self.max_output_tokens,
        }
        if self.description is not None:
            out["description"] = self.description
        out["early_access"] = self.early_access
        return out


def _where(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "(the entry)"


def parse_entries(data: Any, label: str) -> list[ModelEntry]:
    """The entries of a models document (``{"models": [...]}``), or ``CatalogError`` naming the first problem."""
    if not isinstance(data, dict) or set(data) != {"models"} or not isinstance(data["models"], list):
        raise CatalogError(f"{label}: expected a mapping with one key, 'models', holding a list of models")
    entries: list[ModelEntry] = []
    seen: set[str] = set()
    for index, item in enumerate(data["models"]):
        model_id = item.get("id") if isinstance(item, dict) else None
        entry_label = f"{label}: models[{index}]" + (f" (id {model_id!r})" if isinstance(model_id, str) else "")
        try:
            entry = ModelEntry.model_validate(item)
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            raise CatalogError(f"{entry_label}: {_where(error['loc'])}: {error['msg']}") from None
        if entry.id in seen:
            raise CatalogError(f"{entry_label}: id {entry.id!r} is already an entry of this file")
        seen.add(entry.id)
        entries.append(entry)
    return entries


def read_file(path: Path) -> list[ModelEntry]:
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{label}: cannot be read ({exc})") from None
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise CatalogError(f"{label}: is not valid YAML ({exc})") from None
    return parse_entries(data, label)


def built_in() -> list[ModelEntry]:
    text = resources.files("perceptron_mock").joinpath(BUILT_IN).read_text(encoding="utf-8")
    return parse_entries(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)), BUILT_IN)


@dataclass(frozen=True)
class Catalog:
    """Models by id, in catalog order: the built-in ones, then those a models file adds."""

    entries: dict[str, ModelEntry]

    @classmethod
    def load(cls, models_file: Path | None = None) -> "Catalog":
        entries = {entry.id: entry for entry in built_in()}
        for entry in read_file(models_file) if models_file is not None else ():
            entries[entry.id] = entry  # an existing id keeps its place, with the file's entry
        return cls(entries)

    def served(self, ids: Iterable[str]) -> "Catalog":
        """The catalog narrowed to ``ids`` (in that order); empty ``ids``: every model."""
        chosen = list(dict.fromkeys(ids))
        if not chosen:
            return self
        unknown = [model_id for model_id in chosen if model_id not in self.entries]
        if unknown:
            raise CatalogError(
                f"model {unknown[0]!r} (--model) is not in the model catalog; known: {', '.join(self.entries)}. "
                "Add a model with --models-file."
            )
        return Catalog({model_id: self.entries[model_id] for model_id in chosen})

    @property
    def ids(self) -> list[str]:
        return list(self.entries)

    def get(self, model_id: str) -> ModelEntry | None:
        return self.entries.get(model_id)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self.entries
