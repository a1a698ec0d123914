"""Population register rows and CSV files (docs/spec/identity.md §5.1)."""

from __future__ import annotations

import pytest

from sild.errors import InvalidRequest
from sild.identity.population import parse_citizen_row, parse_citizens_csv

HEADER = "country,code,given_name,surname\n"


def test_row_parses_code_and_names() -> None:
    """A register row becomes a checked code and upper-case names."""
    rec = parse_citizen_row({"country": "ee", "code": " 38001085718 ", "given_name": "Jaak",
                             "surname": "Jõeorg"})
    assert (rec.code.code, rec.name.given, rec.name.surname) == ("38001085718", "JAAK", "JÕEORG")


def test_csv_round() -> None:
    """A CSV with the documented header gives one record per row, in order."""
    recs = parse_citizens_csv(HEADER + "EE,38001085718,Jaak,Joeorg\nJP,123456789018,Yui,Sato\n")
    assert [r.code.country for r in recs] == ["EE", "JP"]


@pytest.mark.parametrize(
    ("text", "why"),
    [("", "header"),
     ("code,country,given_name,surname\nEE,38001085718,A,B\n", "header"),
     (HEADER, "no rows"),
     (HEADER + "EE,38001085719,A,B\n", "line 2: EE personal code 38001085719: check digit"),
     (HEADER + "EE,38001085718,A,B\nEE,3800108571,A,B\n", "line 3"),
     (HEADER + "EE,38001085718,A,B,extra\n", "extra fields"),
     (HEADER + "EE,38001085718,,B\n", "lacks given_name"),
     (HEADER + "EE,38001085718,A,B\nEE,38001085718,A,B\n", "appears twice"),
     (HEADER + 'EE,38001085718,"A,B\n', "malformed CSV|lacks|line"),
     (HEADER + "FI,131052-308T,A,B\n", "no personal-code scheme")],
)
def test_bad_csv(text: str, why: str) -> None:
    """Bad headers, rows, codes, duplicates and CSV syntax name the line; nothing passes."""
    with pytest.raises(InvalidRequest, match=why):
        parse_citizens_csv(text)


def test_row_with_non_text() -> None:
    """A row whose code is not text (e.g. from JSON) is refused."""
    with pytest.raises(InvalidRequest, match="text"):
        parse_citizen_row({"country": "EE", "code": 38001085718, "given_name": "A",
                           "surname": "B"})
