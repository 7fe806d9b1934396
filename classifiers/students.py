"""Finding and loading a saved student: ``RUN_DIR/model/`` holds one folder per student.

    model/
      model_card.json          label source + hash, prompt_version, labeller, metrics, default student
      fasttext/                FastTextStudent (student.json + one .bin per head)
      transformer/             TransformerStudent (student.json + encoder/ + heads.safetensors)
      linear/                  LinearStudent (student.json + weights.npz): hashed n-grams, soft targets
      distilled/               LinearStudent trained on gold + the transformer's soft targets on a pool
      cascade/                 FastTextStudent trained on the transformer's pseudo-labels
      static/                  StaticStudent (student.json + static/ Model2Vec vectors + words.txt + weights.npz)

Any of these folders (or the parent, with a student name) can be given to ``predict``/``annotate``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

STUDENTS = ("fasttext", "linear", "transformer", "distilled", "cascade", "static")
# Students whose inference runs at CPU speed (≥ 10k paragraphs/s per core); the transformer needs a GPU.
CPU_STUDENTS = ("fasttext", "linear", "distilled", "cascade", "static")
# Students trained from a transformer teacher's predictions on unlabelled paragraphs.
TAUGHT = ("distilled", "cascade")
CARD = "model_card.json"


def resolve_student_dir(model: str | os.PathLike[str], student: str | None = None,
                        device: str | None = None) -> Path:
    """The folder of one student: ``model`` itself when it holds a student.json, else
    ``model/<student>``. Default: the card's choice for the hardware (``annotator.gpu`` when
    ``device`` is a CUDA device, else ``annotator.cpu``), else its ``default_student``."""
    path = Path(model)
    if (path / "student.json").exists():
        if student and student != _student_name(path):
            raise ValueError(f"{path} holds the {_student_name(path)} student, not {student}")
        return path
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model folder (run `pmc-enrich train` first)")
    if student is None:
        card = path / CARD
        data = json.loads(card.read_text()) if card.exists() else {}
        picks = data.get("annotator") or {}
        hw = "gpu" if device and str(device).startswith("cuda") else "cpu"
        student = picks.get(hw) or data.get("default_student") or "fasttext"
    if student not in STUDENTS:
        raise ValueError(f"unknown student {student!r}; expected one of {STUDENTS}")
    sub = path / student
    if not (sub / "student.json").exists():
        have = [s for s in STUDENTS if (path / s / "student.json").exists()]
        raise FileNotFoundError(f"{path}: no {student} student here (have: {have or 'none'})")
    return sub


def _student_name(path: Path) -> str:
    card = json.loads((path / "student.json").read_text())
    return card.get("student", card.get("kind"))


def student_card(path: str | os.PathLike[str]) -> dict:
    return json.loads((Path(path) / "student.json").read_text())


def load_student(path: str | os.PathLike[str], device: str | None = None):
    """Load a student folder (by its student.json ``kind``); a ``calibration.json`` beside it
    (classifiers/calibration.py) is applied to its predictions."""
    path = Path(path)
    base = _load_base_student(path, device)
    from classifiers.calibration import CALIBRATION_FILE, CalibratedStudent

    if (path / CALIBRATION_FILE).exists():
        return CalibratedStudent.load(path, base)
    return base


def _load_base_student(path: Path, device: str | None = None):
    kind = student_card(path).get("kind")
    if kind == "fasttext":
        from classifiers.fasttext_student import FastTextStudent
        return FastTextStudent.load(path)
    if kind == "linear":
        from classifiers.linear_student import LinearStudent
        return LinearStudent.load(path)
    if kind == "transformer":
        from classifiers.transformer import TransformerStudent  # torch only when asked for
        return TransformerStudent.load(path, device=device)
    if kind == "static":
        from classifiers.static_student import StaticStudent
        return StaticStudent.load(path)
    raise ValueError(f"{path}: unknown student kind {kind!r}")
