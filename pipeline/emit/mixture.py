"""Sampling weights of a variant's shard groups, and ``mixture.json`` (pure Python).

In ``upsample.mode: weights`` a row is written once, in the group of its factor
(``commercial/train-x10``), and the trainer repeats it by sampling: a group's weight is its share of
the *effective* tokens, ``factor × tokens`` over the groups of the same licence split — what the
physical copies would have given. In copies mode each split has one train group (weight 1), whose
tokens already include the copies. Licence splits are never blended: a team trains on
``commercial`` alone, or on both by its own choice, so every weight is given per split.

``mixture.json`` lists each train group with its weight and its files in every format, plus the
lines a trainer takes as they are: nanotron's ``dataset_folder`` / ``dataset_weights``, Megatron-LM's
``--data-path`` (weight, prefix pairs, one per shard) and OLMo's ``paths`` (a group's ``.bin`` files
repeated ``factor`` times, OLMo having no weights).
"""

from __future__ import annotations

from typing import Any

from pipeline.emit.layout import TRAIN, format_folder, parse_group


def group_weights(groups: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Weight of each train group within its split: factor × unique tokens, normalised. Groups are
    ``{name: {"unique_tokens": …}}``; validation groups get no weight (they are never sampled)."""
    effective: dict[str, float] = {}
    for name, g in groups.items():
        info = parse_group(name)
        if info["part"] != TRAIN:
            continue
        # weights mode: rows written once, the factor is the weight; copies mode: tokens include copies
        effective[name] = (info["factor"] or 1) * g["tokens"]
    out: dict[str, float] = {}
    for split in {parse_group(n)["split"] for n in effective}:
        mine = {n: t for n, t in effective.items() if parse_group(n)["split"] == split}
        total = sum(mine.values())
        for name, tokens in mine.items():
            out[name] = round(tokens / total, 8) if total else round(1 / len(mine), 8)
    return out


def mixture(variant: str, mode: str, groups: dict[str, dict[str, Any]], formats: list[str],
            files: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The content of ``mixture.json``. ``files`` maps a group to its files in every format
    (``{"format", "path", "tokens", …}``; Parquet shards included)."""
    weights = group_weights(groups)
    splits: dict[str, list[dict[str, Any]]] = {}
    nanotron: dict[str, dict[str, list]] = {}
    megatron: dict[str, list] = {}
    olmo: dict[str, list[str]] = {}
    for name in sorted(weights):
        info, g = parse_group(name), groups[name]
        factor = info["factor"] or 1
        entry = {"group": name, "factor": info["factor"], "weight": weights[name], "rows": g["rows"],
                 "tokens": g["tokens"], "effective_tokens": factor * g["tokens"],
                 "parquet": [f["path"] for f in files.get(name, []) if f["format"] == "parquet"]}
        for fmt in formats:
            if fmt != "parquet":
                entry[fmt] = format_folder(name, fmt)
        splits.setdefault(info["split"], []).append(entry)
        if "datatrove" in formats:
            n = nanotron.setdefault(info["split"], {"dataset_folder": [], "dataset_weights": []})
            n["dataset_folder"].append(format_folder(name, "datatrove"))
            n["dataset_weights"].append(weights[name])
        if "megatron" in formats:
            bins = [f for f in files.get(name, []) if f["format"] == "megatron" and f["path"].endswith(".bin")]
            total = sum(f["tokens"] for f in bins) or 1
            for f in bins:
                megatron.setdefault(info["split"], []).append(
                    [round(weights[name] * f["tokens"] / total, 8), f["path"][: -len(".bin")]])
            olmo.setdefault(info["split"], []).extend([f["path"] for f in bins] * factor)
    out: dict[str, Any] = {"variant": variant, "upsample_mode": mode, "weights_unit": "tokens",
                           "note": "paths are relative to the variant folder; weights sum to 1 within a split",
                           "splits": splits}
    if nanotron:
        out["nanotron"] = nanotron
    if megatron:
        out["megatron_data_path"] = megatron
        out["olmo_paths"] = olmo
    return out
