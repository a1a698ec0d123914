"""National personal codes: parse, check and generate (docs/spec/identity.md §1).

Pure: no clock, no I/O. A code is parsed once at the edge into a frozen
:class:`PersonalCode`; inside Sild a malformed code cannot exist.

Schemes are kept in a small registry keyed by ISO 3166-1 alpha-2 country code
(:func:`scheme_for`, :func:`register_scheme`), so a country is one class away:

* **EE** — Estonian *isikukood* ``GYYMMDDSSSC`` (EVS 585:2007; research/citizen.md §3.1):
  G gives century and sex, YYMMDD the birth date, SSS a serial for people born on
  the same day, C a two-pass modulo-11 check digit.
* **JP** — Japanese *My Number* (個人番号): 12 digits, the last a modulo-11 check
  digit (総務省令第85号 第5条). It carries no birth date and no sex.

The ETSI EN 319 412-1 §5.1.3 semantics identifier ``PNO<country>-<code>`` (the
subject serialNumber of a person certificate) is built by
:meth:`PersonalCode.semantics_id` and parsed by :func:`parse_semantics_id`.
"""

from __future__ import annotations

import datetime as dt
import enum
import random
from dataclasses import dataclass
from typing import ClassVar, Protocol

from sild.errors import InvalidPersonalCode

__all__ = [
    "EstonianCode",
    "JapaneseMyNumber",
    "PersonalCode",
    "Scheme",
    "Sex",
    "countries",
    "generate",
    "parse",
    "parse_semantics_id",
    "register_scheme",
    "scheme_for",
]


class Sex(enum.Enum):
    """Sex as personal codes record it (ISO/IEC 5218 letters)."""

    MALE = "M"
    FEMALE = "F"


@dataclass(frozen=True, slots=True)
class PersonalCode:
    """A checked personal code. Only a :class:`Scheme` makes these."""

    country: str
    code: str
    birth_date: dt.date | None = None
    sex: Sex | None = None

    def semantics_id(self) -> str:
        """``PNO<country>-<code>``: ETSI EN 319 412-1 §5.1.3 natural-person identifier."""
        return f"PNO{self.country}-{self.code}"

    def __str__(self) -> str:
        return self.semantics_id()


class Scheme(Protocol):
    """One country's personal-code rules."""

    country: ClassVar[str]
    #: whether codes of this scheme encode the holder's birth date and sex
    carries_birth_date: ClassVar[bool]
    carries_sex: ClassVar[bool]

    def parse(self, text: str) -> PersonalCode:
        """Check ``text``; :class:`InvalidPersonalCode` names what is wrong."""
        ...

    def generate(
        self, rng: random.Random, *, birth_date: dt.date | None = None, sex: Sex | None = None
    ) -> PersonalCode:
        """A valid code (for this birth date and sex, where the scheme carries them)."""
        ...


def _digits(text: object, length: int, country: str) -> str:
    if not isinstance(text, str):
        raise InvalidPersonalCode(f"a {country} personal code must be text", country=country)
    if len(text) != length or not text.isascii() or not text.isdigit():
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise InvalidPersonalCode(
            f"{country} personal code {shown!r} must be exactly {length} digits", country=country
        )
    return text


def _no_birth_data(country: str, birth_date: dt.date | None, sex: Sex | None) -> None:
    if birth_date is not None or sex is not None:
        raise InvalidPersonalCode(
            f"{country} personal codes carry no birth date or sex; give neither",
            country=country,
        )


# -- Estonia --------------------------------------------------------------------------

# research/citizen.md §3.1: first pass weights, then second pass weights.
_EE_W1 = (1, 2, 3, 4, 5, 6, 7, 8, 9, 1)
_EE_W2 = (3, 4, 5, 6, 7, 8, 9, 1, 2, 3)
# G: (sex, first year of the century); odd = male, even = female (EVS 585:2007).
_EE_CENTURY = {1: 1800, 3: 1900, 5: 2000, 7: 2100}


class EstonianCode:
    """Estonian isikukood ``GYYMMDDSSSC`` (EVS 585:2007; research/citizen.md §3.1)."""

    country: ClassVar[str] = "EE"
    carries_birth_date: ClassVar[bool] = True
    carries_sex: ClassVar[bool] = True

    @staticmethod
    def check_digit(first10: str) -> int:
        """The mod-11 check digit over the first ten digits, two passes (§3.1)."""
        d = [ord(c) - 48 for c in first10]
        r = sum(a * b for a, b in zip(d, _EE_W1, strict=True)) % 11
        if r < 10:
            return r
        r = sum(a * b for a, b in zip(d, _EE_W2, strict=True)) % 11
        return r if r < 10 else 0

    def parse(self, text: str) -> PersonalCode:
        code = _digits(text, 11, "EE")
        g = int(code[0])
        if not 1 <= g <= 8:
            raise InvalidPersonalCode(
                f"EE personal code {code}: first digit {g} is not a century/sex digit 1-8",
                country="EE",
            )
        year = _EE_CENTURY[g - (g + 1) % 2] + int(code[1:3])
        try:
            born = dt.date(year, int(code[3:5]), int(code[5:7]))
        except ValueError as e:
            raise InvalidPersonalCode(
                f"EE personal code {code}: {code[1:7]} is not a date (YYMMDD)", country="EE"
            ) from e
        if int(code[10]) != self.check_digit(code[:10]):
            raise InvalidPersonalCode(f"EE personal code {code}: check digit is wrong",
                                      country="EE")
        return PersonalCode("EE", code, born, Sex.MALE if g % 2 else Sex.FEMALE)

    def generate(
        self, rng: random.Random, *, birth_date: dt.date | None = None, sex: Sex | None = None
    ) -> PersonalCode:
        if birth_date is None:
            birth_date = dt.date(1900, 1, 1) + dt.timedelta(days=rng.randrange(0, 300 * 366))
            birth_date = min(birth_date, dt.date(2199, 12, 31))
        if not 1800 <= birth_date.year <= 2199:
            raise InvalidPersonalCode(
                f"EE personal codes cover birth years 1800-2199, not {birth_date.year}",
                country="EE",
            )
        if sex is None:
            sex = rng.choice((Sex.MALE, Sex.FEMALE))
        g = (birth_date.year - 1800) // 100 * 2 + (1 if sex is Sex.MALE else 2)
        first10 = f"{g}{birth_date:%y%m%d}{rng.randrange(1000):03d}"
        return self.parse(first10 + str(self.check_digit(first10)))


# -- Japan ----------------------------------------------------------------------------

# Weights Q_n for the n-th digit counted from the right without the check digit:
# n+1 for n = 1..6, n-5 for n = 7..11 (総務省令第85号 第5条); listed here left to right.
_JP_W = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


class JapaneseMyNumber:
    """Japanese My Number: 11 digits and a modulo-11 check digit."""

    country: ClassVar[str] = "JP"
    carries_birth_date: ClassVar[bool] = False
    carries_sex: ClassVar[bool] = False

    @staticmethod
    def check_digit(first11: str) -> int:
        """0 when the weighted sum mod 11 is 0 or 1, else 11 minus it."""
        r = sum((ord(c) - 48) * w for c, w in zip(first11, _JP_W, strict=True)) % 11
        return 0 if r <= 1 else 11 - r

    def parse(self, text: str) -> PersonalCode:
        code = _digits(text, 12, "JP")
        if int(code[11]) != self.check_digit(code[:11]):
            raise InvalidPersonalCode(f"JP personal code {code}: check digit is wrong",
                                      country="JP")
        return PersonalCode("JP", code)

    def generate(
        self, rng: random.Random, *, birth_date: dt.date | None = None, sex: Sex | None = None
    ) -> PersonalCode:
        _no_birth_data("JP", birth_date, sex)
        first11 = f"{rng.randrange(10**11):011d}"
        return self.parse(first11 + str(self.check_digit(first11)))


# -- the registry ---------------------------------------------------------------------

_SCHEMES: dict[str, Scheme] = {}


def register_scheme(scheme: Scheme) -> None:
    """Add a country's scheme; a country may be registered once."""
    c = scheme.country
    if len(c) != 2 or not c.isascii() or not c.isupper() or not c.isalpha():
        raise ValueError(f"scheme country {c!r} is not an ISO 3166-1 alpha-2 code")
    if c in _SCHEMES:
        raise ValueError(f"a personal-code scheme for {c} is already registered")
    _SCHEMES[c] = scheme


register_scheme(EstonianCode())
register_scheme(JapaneseMyNumber())


def countries() -> tuple[str, ...]:
    """The countries whose personal codes Sild knows, sorted."""
    return tuple(sorted(_SCHEMES))


def scheme_for(country: object) -> Scheme:
    """The scheme of ``country``; :class:`InvalidPersonalCode` for an unknown country."""
    if isinstance(country, str) and country in _SCHEMES:
        return _SCHEMES[country]
    shown = country if isinstance(country, str) and len(country) <= 10 else "?"
    raise InvalidPersonalCode(
        f"no personal-code scheme for country {shown!r}; known: {', '.join(countries())}",
        country=shown,
    )


def parse(country: object, text: object) -> PersonalCode:
    """Check ``text`` as a personal code of ``country`` (``"EE"``, ``"JP"``, …)."""
    return scheme_for(country).parse(text)  # type: ignore[arg-type]  # schemes check type


def generate(
    country: str, rng: random.Random, *, birth_date: dt.date | None = None,
    sex: Sex | None = None,
) -> PersonalCode:
    """A valid code of ``country``; deterministic for a seeded ``rng``."""
    return scheme_for(country).generate(rng, birth_date=birth_date, sex=sex)


def parse_semantics_id(text: object) -> PersonalCode:
    """Parse ``PNO<country>-<code>`` (ETSI EN 319 412-1 §5.1.3), e.g. ``PNOEE-38001085718``."""
    if (not isinstance(text, str) or len(text) < 7 or not text.startswith("PNO")
            or text[5:6] != "-"):
        shown = text[:40] if isinstance(text, str) else type(text).__name__
        raise InvalidPersonalCode(
            f"{shown!r} is not a semantics identifier PNO<country>-<code>", country="?"
        )
    return parse(text[3:5], text[6:])
