"""Licence normalisation: URLs, JATS licence statements and PMC filelist codes → one vocabulary.

Vocabulary: ``CC BY``, ``CC BY-SA``, ``CC BY-ND``, ``CC BY-NC``, ``CC BY-NC-SA``, ``CC BY-NC-ND``,
``CC0`` or ``none`` (anything else: publisher licences, PMC's ``NO-CC CODE``, unreadable
statements). Public-domain works (CC0 dedication, CC public-domain mark, ``license-type=
"public-domain"``) are ``CC0``: no restriction, and PMC files them in the commercial subset.

``commercial`` follows PMC's grouping of the Open Access subset: ``oa_comm`` holds CC0, CC BY,
CC BY-SA and CC BY-ND; every NC variant and every non-CC licence is non-commercial.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "LICENSES",
    "COMMERCIAL_LICENSES",
    "normalize_license",
    "license_from_url",
    "license_from_text",
    "first_license",
    "is_commercial",
]

LICENSES = ("CC BY", "CC BY-SA", "CC BY-ND", "CC BY-NC", "CC BY-NC-SA", "CC BY-NC-ND", "CC0", "none")
COMMERCIAL_LICENSES = frozenset({"CC BY", "CC BY-SA", "CC BY-ND", "CC0"})

# creativecommons.org/licenses/by-nc-nd/4.0/ ; .../publicdomain/zero/1.0/
_CC_URL = re.compile(r"creativecommons\.org/(licenses|publicdomain)/([a-z-]+)", re.I)
# "CC BY-NC-ND 4.0", "CC-BY", "cc_by_nc", "CCBY" (filelist and licence-p abbreviations)
_CC_ABBR = re.compile(r"\bcc[\s_-]?by((?:[\s_-]?(?:nc|nd|sa)\b)*)", re.I)
_CC0 = re.compile(r"\bcc[\s_-]?(?:0|zero)\b|public[\s-]*domain\s+dedication|publicdomain/zero|^public[\s-]domain$", re.I)
_CC_WORDS = re.compile(r"creative\s*commons", re.I)
_ATTRIBUTION = re.compile(r"attribution", re.I)
_NC = re.compile(r"non[\s-]?commercial", re.I)
_ND = re.compile(r"no[\s-]?deriv", re.I)
_SA = re.compile(r"share[\s-]?alike", re.I)


def _compose(nc: bool, nd: bool, sa: bool) -> str:
    parts = ["CC BY"]
    if nc:
        parts.append("NC")
    # ND and SA are mutually exclusive in CC's licence suite; ND wins if a statement claims both.
    if nd:
        parts.append("ND")
    elif sa:
        parts.append("SA")
    return "-".join(parts)


def license_from_url(url: str | None) -> str | None:
    """CC licence from a creativecommons.org URL; ``None`` when the URL names no CC licence."""
    if not url:
        return None
    m = _CC_URL.search(url)
    if not m:
        return None
    kind, code = m.group(1).lower(), m.group(2).lower()
    if kind == "publicdomain":
        # CC0 dedication or public-domain mark: no restriction at all, PMC files both as commercial
        return "CC0" if code.startswith(("zero", "mark")) else None
    elements = set(code.split("-"))
    if "by" not in elements:
        return None
    return _compose("nc" in elements, "nd" in elements, "sa" in elements)


def license_from_text(text: str | None) -> str | None:
    """CC licence from a free-text statement or an abbreviation; ``None`` when none is named."""
    if not text:
        return None
    from_url = license_from_url(text)
    if from_url:
        return from_url
    if _CC0.search(text):
        return "CC0"
    m = _CC_ABBR.search(text)
    if m:
        mods = m.group(1).lower()
        return _compose("nc" in mods, "nd" in mods, "sa" in mods)
    if _CC_WORDS.search(text) and _ATTRIBUTION.search(text):
        return _compose(bool(_NC.search(text)), bool(_ND.search(text)), bool(_SA.search(text)))
    return None


def normalize_license(value: str | None) -> str:
    """Any licence URL, statement or filelist code (``CC BY-NC``, ``NO-CC CODE``) → vocabulary."""
    return license_from_text(value) or "none"


def first_license(candidates: Iterable[str | None]) -> str:
    """First candidate that names a CC licence, in the caller's order of trust; else ``none``."""
    for candidate in candidates:
        found = license_from_text(candidate)
        if found:
            return found
    return "none"


def is_commercial(license_: str | None) -> bool:
    """PMC's grouping: CC0, CC BY, CC BY-SA, CC BY-ND → commercial use allowed."""
    return license_ in COMMERCIAL_LICENSES
