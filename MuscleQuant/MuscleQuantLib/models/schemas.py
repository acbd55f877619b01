"""JSON-schema validation that reports the first problem as one line naming the file and the field."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from ..errors import InputError

SCHEMA_DIR = Path(__file__).resolve().parent
CARD_SCHEMA = "model_card.schema.json"
REGISTRY_SCHEMA = "Models.schema.json"


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The schemas ship inside the package (package data), so an installed engine finds them too."""
    return json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))


def field_path(parts: Any) -> str:
    """``["models", 0, "sha256"]`` -> ``models[0].sha256``: how a user finds the field in the file."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def validate(instance: Any, schema_name: str, source: str | Path) -> None:
    """Raise :class:`InputError` for the most relevant schema violation, naming its field."""
    validator = Draft202012Validator(load_schema(schema_name))
    error: ValidationError | None = best_match(validator.iter_errors(instance))
    if error is None:
        return
    where = list(error.absolute_path)
    # "additionalProperties" errors sit on the parent; name the offending key itself.
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        if extra:
            where.append(extra[0])
            raise InputError("unknown field (not in the schema)", path=source, field=field_path(where))
    raise InputError(_short(error.message), path=source, field=field_path(where))


def _short(message: str, limit: int = 200) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 3] + "..."
