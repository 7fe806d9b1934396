"""Validation of one model response against the label schema. Nothing is coerced or repaired:
a response is either a valid label or an invalid one with a machine-readable reason."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pydantic import ValidationError

from schemas.labels import LABEL_FIELDS, ParagraphLabel

_REFUSAL = re.compile(
    r"\b(I'?m sorry|I am sorry|sorry, but|I can(?:not|'t|’t)|I am unable|I'm unable|unable to (?:help|assist|comply)"
    r"|as an AI|I won'?t|I must decline)\b", re.I)


@dataclass(frozen=True)
class Checked:
    label: ParagraphLabel | None
    reason: str | None = None
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.label is not None


def check_response(raw: str | None, finish_reason: str | None = None, refusal: str | None = None) -> Checked:
    """Validate ``raw`` (the assistant message content). ``refusal``: the API's refusal field."""
    if refusal:
        return Checked(None, "refusal", refusal[:200])
    if raw is None or not raw.strip():
        return Checked(None, "truncated" if finish_reason == "length" else "empty")
    text = raw.strip()
    try:
        obj = json.loads(text)
    except ValueError as exc:
        if not text.startswith("{") and _REFUSAL.search(text):
            return Checked(None, "refusal", text[:200])
        return Checked(None, "truncated" if finish_reason == "length" else "bad_json", str(exc)[:200])
    if not isinstance(obj, dict):
        return Checked(None, "not_object", type(obj).__name__)
    missing = [k for k in LABEL_FIELDS if k not in obj]
    if missing:
        return Checked(None, "missing_field", ",".join(missing))
    extra = sorted(set(obj) - set(LABEL_FIELDS))
    if extra:
        return Checked(None, "extra_field", ",".join(extra)[:200])
    try:
        return Checked(ParagraphLabel.model_validate(obj))
    except ValidationError as exc:
        err = exc.errors()[0]
        return Checked(None, "invalid_value", f"{'.'.join(map(str, err['loc']))}: {err['msg']}"[:200])


def check_fields(row: dict) -> Checked:
    """Validate the four label fields of an imported row (other keys are metadata and ignored)."""
    missing = [k for k in LABEL_FIELDS if row.get(k) is None]
    if missing:
        return Checked(None, "missing_field", ",".join(missing))
    try:
        return Checked(ParagraphLabel.model_validate({k: row[k] for k in LABEL_FIELDS}))
    except ValidationError as exc:
        err = exc.errors()[0]
        return Checked(None, "invalid_value", f"{'.'.join(map(str, err['loc']))}: {err['msg']}"[:200])
