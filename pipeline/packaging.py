"""Build what Spark executors need to run the pipeline's Python code on a cluster.

Two artifacts, both from the working tree:

* ``pmc_enrich-<version>-pyfiles.zip`` — the ``pipeline``, ``classifiers``, ``schemas`` and ``jobs``
  packages (sources plus their YAML/JSON/MD package data) for ``spark-submit --py-files``. Pure
  Python: third-party libraries (lxml, fasttext, datasketch, ...) must already be installed in the
  executors' interpreter (``spark.pyspark.python``) or shipped as a packed venv (docs/cluster.md).
  The zip is byte-for-byte reproducible: sorted entries, fixed timestamps, no bytecode.
* ``pmc_enrich-<version>-py3-none-any.whl`` — the project wheel, for ``pip install`` on the
  cluster's images/nodes or into a venv that is then packed with venv-pack.

``build_package`` writes both plus ``MANIFEST.json`` (sizes, sha256, a ready spark-submit line).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import __version__
from pipeline.rundir import atomic_path, write_json_atomic
from pipeline.stage_files import sha256_file

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
# The import packages executors need (pyproject's [tool.setuptools.packages.find] include list).
PACKAGES = ("pipeline", "classifiers", "schemas", "jobs")
# Non-Python files that ship inside the packages (pyproject's package-data).
DATA_SUFFIXES = (".yaml", ".yml", ".json", ".md")
# 1980-01-01, the earliest date a zip can hold: fixed so the zip does not change between builds.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass
class PackageResult:
    out_dir: Path
    pyfiles_zip: Path
    wheel: Path | None = None
    files: dict[str, dict] = field(default_factory=dict)

    def submit_args(self) -> list[str]:
        """The spark-submit arguments that ship the code with a job."""
        return ["--py-files", str(self.pyfiles_zip)]


def _package_files(root: Path, package: str) -> list[Path]:
    base = root / package
    if not (base / "__init__.py").exists():
        raise FileNotFoundError(f"{base} is not a Python package (no __init__.py)")
    files = []
    for path in base.rglob("*"):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue  # editor/temp files
        if path.suffix == ".py" or path.suffix in DATA_SUFFIXES:
            files.append(path)
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def build_pyfiles_zip(out_dir: str | os.PathLike[str], root: str | os.PathLike[str] = REPO_ROOT,
                      name: str | None = None) -> Path:
    """Zip the project's packages for ``--py-files`` (reproducible bytes; written atomically)."""
    root, out_dir = Path(root), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / (name or f"pmc_enrich-{__version__}-pyfiles.zip")
    count = 0
    with atomic_path(target) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for package in PACKAGES:
                for path in _package_files(root, package):
                    info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=_ZIP_EPOCH)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    zf.writestr(info, path.read_bytes())
                    count += 1
    log.info("wrote %s (%d files, %d bytes)", target, count, target.stat().st_size)
    return target


def build_wheel(out_dir: str | os.PathLike[str], root: str | os.PathLike[str] = REPO_ROOT) -> Path:
    """Build the project wheel with the installed setuptools (no network, no build isolation).

    The build runs in a staging copy holding only pyproject.toml, README.md and the packages, so
    it neither writes ``build/`` into the working tree nor sweeps up tests, data or the venv.
    """
    root, out_dir = Path(root), Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pmc-enrich-wheel-") as staging_str:
        staging = Path(staging_str)
        shutil.copy2(root / "pyproject.toml", staging / "pyproject.toml")
        readme = root / "README.md"
        if readme.exists():
            shutil.copy2(readme, staging / "README.md")
        else:  # pyproject names README.md as the long description; any text will do
            (staging / "README.md").write_text("pmc-enrich\n", encoding="utf-8")
        for extra in sorted([*root.glob("LICEN[CS]E*"), *root.glob("NOTICE*")]):  # license-files
            if extra.is_file():
                shutil.copy2(extra, staging / extra.name)
        for package in PACKAGES:
            for path in _package_files(root, package):
                dest = staging / path.relative_to(root)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)
        wheel_dir = staging / "_wheels"
        env = {**os.environ, "SOURCE_DATE_EPOCH": os.environ.get("SOURCE_DATE_EPOCH", "315532800")}
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
               "--disable-pip-version-check", "-q", "-w", str(wheel_dir), str(staging)]
        proc = subprocess.run(cmd, cwd=staging, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"wheel build failed ({' '.join(cmd)}):\n{proc.stdout}\n{proc.stderr}")
        wheels = sorted(wheel_dir.glob("pmc_enrich-*.whl"))
        if len(wheels) != 1:
            raise RuntimeError(f"expected one pmc_enrich wheel, found {[w.name for w in wheels]}")
        target = out_dir / wheels[0].name
        with atomic_path(target) as tmp:
            shutil.copy2(wheels[0], tmp)
    log.info("wrote %s (%d bytes)", target, target.stat().st_size)
    return target


def build_package(out_dir: str | os.PathLike[str], wheel: bool = True,
                  root: str | os.PathLike[str] = REPO_ROOT) -> PackageResult:
    """Build the --py-files zip (and the wheel unless ``wheel=False``) plus MANIFEST.json."""
    out_dir = Path(out_dir).resolve()
    result = PackageResult(out_dir=out_dir, pyfiles_zip=build_pyfiles_zip(out_dir, root))
    if wheel:
        result.wheel = build_wheel(out_dir, root)
    for path in filter(None, [result.pyfiles_zip, result.wheel]):
        result.files[path.name] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    write_json_atomic(out_dir / "MANIFEST.json", {
        "version": __version__,
        "packages": list(PACKAGES),
        "files": result.files,
        "spark_submit_example": " ".join(
            ["spark-submit", *result.submit_args(), "jobs/ingest.py", "--run-dir", "RUN_DIR", "--input", "INPUT"]),
    })
    return result
