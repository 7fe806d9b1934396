#!/usr/bin/env python3
"""Unlabelled pool for the GPU distillation measurement: every paragraph (>= 5 words) of the
shared JATS data parsed with pipeline.jats (no Spark), distinct texts, with section path and
article type; source kept so labelled articles can be told apart."""
import os
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from classifiers.labels import ws_hash  # noqa: E402
from pipeline.jats import parse_document  # noqa: E402

# python benchmarks/make_pool.py runs/pool.parquet [DATA_DIR (default ../shared/data)]
rows, seen = [], set()
def add(data, source):
    try:
        arts = parse_document(data, source, detect_language=False)
    except Exception:
        return
    for a in arts:
        for p in a.paragraphs:
            t = p.get("text") or ""
            if len(t.split()) < 5: continue
            h = ws_hash(t)
            if h in seen: continue
            seen.add(h)
            rows.append({"text": t, "section_path": p.get("section_path"), "zone": p.get("zone"),
                         "article_type": a.article.get("article_type"), "source": source})
root = sys.argv[2] if len(sys.argv) > 2 else "../shared/data"
for d, _, fs in os.walk(root):
    for f in sorted(fs):
        path = os.path.join(d, f)
        if f.endswith((".xml", ".nxml")):
            add(open(path, "rb").read(), os.path.relpath(path, root))
        elif f.endswith(".tar.gz"):
            with tarfile.open(path) as tar:
                for m in tar.getmembers():
                    if m.isfile() and m.name.endswith((".xml", ".nxml")):
                        add(tar.extractfile(m).read(), os.path.relpath(path, root) + "::" + m.name)
t = pa.Table.from_pylist(rows)
pq.write_table(t, sys.argv[1], compression="zstd")
print(t.num_rows, os.path.getsize(sys.argv[1]))
