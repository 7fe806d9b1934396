"""Licence normalisation on the real values found in the sample's XML and filelists."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pipeline.license import COMMERCIAL_LICENSES, LICENSES, first_license, is_commercial, normalize_license

BULK = Path(__file__).resolve().parent / "data" / "pmc-oa-bulk"


@pytest.mark.parametrize(
    "value, expected",
    [
        # PMC filelist License column
        ("CC BY", "CC BY"),
        ("CC BY-NC", "CC BY-NC"),
        ("CC BY-NC-ND", "CC BY-NC-ND"),
        ("CC BY-NC-SA", "CC BY-NC-SA"),
        ("CC BY-SA", "CC BY-SA"),
        ("CC BY-ND", "CC BY-ND"),
        ("CC0", "CC0"),
        ("NO-CC CODE", "none"),
        ("", "none"),
        (None, "none"),
        # license/@xlink:href and ali:license_ref values from the sample
        ("http://creativecommons.org/licenses/by/2.0", "CC BY"),
        ("https://creativecommons.org/licenses/by/4.0/deed.en", "CC BY"),
        ("http://creativecommons.org/licenses/by-nc/3.0/", "CC BY-NC"),
        ("https://creativecommons.org/licenses/by-nc-nd/4.0/", "CC BY-NC-ND"),
        ("http://creativecommons.org/licenses/by-nc-sa/4.0/", "CC BY-NC-SA"),
        ("http://creativecommons.org/publicdomain/zero/1.0/", "CC0"),
        ("http://creativecommons.org/publicdomain/mark/1.0/", "CC0"),
        ("http://www.frontiersin.org/licenseagreement", "none"),
        # license-p statements from the sample
        ("This article is licensed under a Creative Commons Attribution 4.0 International License, which permits use", "CC BY"),
        ("This article is licensed under a Creative Commons Attribution-NonCommercial-NoDerivatives 4.0 International License", "CC BY-NC-ND"),
        ("This work is licensed under a Creative Commons Attribution-NonCommercial-NoDerivs 3.0 Unported License.", "CC BY-NC-ND"),
        ("distributed under the terms of the Creative Commons Attribution Non-Commercial License", "CC BY-NC"),
        ("distributed under the terms and conditions of the Creative Commons Attribution (CC BY) license", "CC BY"),
        ("The work is made available under the Creative Commons CC0 public domain dedication.", "CC0"),
        ("This is an open-access article subject to a non-exclusive license between the authors and Frontiers Media SA", "none"),
        ("public-domain", "CC0"),
    ],
)
def test_normalize_license(value, expected):
    assert normalize_license(value) == expected
    assert expected in LICENSES


def test_commercial_grouping():
    assert {lic for lic in LICENSES if is_commercial(lic)} == COMMERCIAL_LICENSES == {"CC BY", "CC BY-SA", "CC BY-ND", "CC0"}
    for lic in ("CC BY-NC", "CC BY-NC-SA", "CC BY-NC-ND", "none", None):
        assert not is_commercial(lic)


def test_urls_are_trusted_before_text():
    # BMC: the licence URL says CC BY; the statement also mentions a CC0 waiver for data
    assert first_license([
        "http://creativecommons.org/licenses/by/2.0",
        "The Creative Commons Public Domain Dedication waiver applies to the data",
    ]) == "CC BY"
    assert first_license([None, "", "Creative Commons Attribution License"]) == "CC BY"
    assert first_license([]) == "none"


def test_filelist_license_column_maps_to_the_package_group():
    """Real filelists: every oa_comm row is commercial, every oa_noncomm/oa_other row is not."""
    for csv_path in sorted(BULK.glob("*/xml/*.filelist.csv")):
        group = csv_path.parts[-3]
        rows = list(csv.DictReader(csv_path.open()))
        assert rows
        for row in rows:
            assert is_commercial(normalize_license(row["License"])) is (group == "oa_comm"), (csv_path.name, row)
