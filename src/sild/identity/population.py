"""Citizens as a population register hands them over (docs/spec/identity.md §5.1). Pure.

One row: ``country, code, given_name, surname``. A CSV file has exactly that
header. Every row is checked before anything is issued, so a bad row 57 leaves
rows 1-56 unissued too, and the error names the row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass

from sild.core.personal_code import PersonalCode, parse
from sild.errors import InvalidRequest, SildError
from sild.identity.profiles import PersonName

__all__ = ["CSV_HEADER", "CitizenRecord", "parse_citizen_row", "parse_citizens_csv"]

CSV_HEADER = ("country", "code", "given_name", "surname")
MAX_ROWS = 1_000_000


@dataclass(frozen=True, slots=True)
class CitizenRecord:
    """A population-register row, checked: a personal code and a name."""

    code: PersonalCode
    name: PersonName


def parse_citizen_row(row: Mapping[str, object]) -> CitizenRecord:
    """Check one register row (a mapping with the CSV_HEADER keys)."""
    missing = [k for k in CSV_HEADER if row.get(k) in (None, "")]
    if missing:
        raise InvalidRequest(f"population row lacks {', '.join(missing)}")
    country = row["country"]
    code = row["code"]
    if not isinstance(country, str) or not isinstance(code, str):
        raise InvalidRequest("population row: country and code must be text")
    return CitizenRecord(parse(country.strip().upper(), code.strip()),
                         PersonName.parse(row["given_name"], row["surname"]))


def parse_citizens_csv(text: str) -> list[CitizenRecord]:
    """All rows of a register CSV; :class:`InvalidRequest` naming the first bad line."""
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = tuple(h.strip() for h in (reader.fieldnames or ()))
        if header != CSV_HEADER:
            raise InvalidRequest(f"CSV header must be {','.join(CSV_HEADER)}")
        out: list[CitizenRecord] = []
        seen: set[tuple[str, str]] = set()
        for row in reader:
            line = reader.line_num
            if None in row or len(out) >= MAX_ROWS:
                raise InvalidRequest(f"CSV line {line}: extra fields or too many rows")
            try:
                rec = parse_citizen_row({k.strip(): v for k, v in row.items()})
            except SildError as e:
                raise InvalidRequest(f"CSV line {line}: {e}") from e
            key = (rec.code.country, rec.code.code)
            if key in seen:
                raise InvalidRequest(f"CSV line {line}: {rec.code} appears twice")
            seen.add(key)
            out.append(rec)
    except csv.Error as e:
        raise InvalidRequest(f"malformed CSV: {e}") from e
    if not out:
        raise InvalidRequest("CSV has no rows")
    return out
