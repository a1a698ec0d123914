"""Personal codes (docs/spec/identity.md §1): Estonian isikukood and Japanese My Number,
cross-checked against independent implementations (python-stdnum, isikukood)."""

from __future__ import annotations

import datetime as dt
import random
from typing import ClassVar

import isikukood  # GPL: a test-only cross-check, never imported by src/
import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.ee import ik as stdnum_ik
from stdnum.jp import in_ as stdnum_jp

from sild.core import personal_code as pc
from sild.core.personal_code import PersonalCode, Sex
from sild.errors import InvalidIdentifier, InvalidPersonalCode

N_RANDOM = 50_000

dates = st.dates(min_value=dt.date(1800, 1, 1), max_value=dt.date(2199, 12, 31))
sexes = st.sampled_from([Sex.MALE, Sex.FEMALE])


# -- Estonia: known values --------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "born", "sex"),
    [
        ("60001017869", dt.date(2000, 1, 1), Sex.FEMALE),  # research/citizen.md §3.1
        ("39901012239", dt.date(1999, 1, 1), Sex.MALE),
        ("38001085718", dt.date(1980, 1, 8), Sex.MALE),  # web-eid README test card
    ],
)
def test_known_estonian_codes(code: str, born: dt.date, sex: Sex) -> None:
    """Published example codes parse with their birth date and sex (§1.1)."""
    assert pc.parse("EE", code) == PersonalCode("EE", code, born, sex)


def test_second_pass_check_digit() -> None:
    """When the first pass gives 10 the second pass weights 3..9,1,2,3 decide (§1.1)."""
    # Search a prefix whose first pass gives 10, so the second pass is exercised.
    first10 = next(
        f"37601010{n:02d}" for n in range(100)
        if sum(int(a) * b for a, b in zip(f"37601010{n:02d}", (1, 2, 3, 4, 5, 6, 7, 8, 9, 1),
                                          strict=True)) % 11 == 10
    )
    second = sum(int(a) * b for a, b in zip(first10, (3, 4, 5, 6, 7, 8, 9, 1, 2, 3),
                                            strict=True)) % 11
    assert pc.EstonianCode.check_digit(first10) == (second if second < 10 else 0)
    assert stdnum_ik.calc_check_digit(first10 + "0") == str(pc.EstonianCode.check_digit(first10))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("6000101786", "exactly 11 digits"),
        ("600010178690", "exactly 11 digits"),
        ("6000101786a", "exactly 11 digits"),
        (" 60001017869", "exactly 11 digits"),
        ("６0001017869", "exactly 11 digits"),  # a full-width digit is not ASCII
        ("", "exactly 11 digits"),
        ("90001017869", "century/sex digit"),
        ("00001017869", "century/sex digit"),
        ("60002307869", "not a date"),
        ("30002297869", "not a date"),  # 1900 was not a leap year
        ("60013017869", "not a date"),
        ("60001017868", "check digit"),
    ],
)
def test_malformed_estonian_codes(text: str, why: str) -> None:
    """Wrong length, non-digits, bad G, impossible dates and bad check digits are refused."""
    with pytest.raises(InvalidPersonalCode, match=why):
        pc.parse("EE", text)


def test_leap_day_2000_is_a_date() -> None:
    """2000-02-29 exists (a century leap year), so its code is valid."""
    code = pc.generate("EE", random.Random(1), birth_date=dt.date(2000, 2, 29), sex=Sex.FEMALE)
    assert code.code.startswith("6000229")


def test_non_text_is_refused() -> None:
    """A number or bytes where text is expected is an InvalidPersonalCode, not a TypeError."""
    for bad in (60001017869, b"60001017869", None):
        with pytest.raises(InvalidPersonalCode):
            pc.parse("EE", bad)


def test_error_is_an_identifier_error_with_its_own_code() -> None:
    """InvalidPersonalCode sits under InvalidIdentifier with a code of its own."""
    with pytest.raises(InvalidIdentifier) as e:
        pc.parse("EE", "1")
    assert e.value.xroad_code == "Client.InvalidPersonalCode"


# -- Estonia: properties and cross-checks -----------------------------------------------


@given(dates, sexes, st.integers(min_value=0, max_value=2**32))
def test_generate_parse_round_trip(born: dt.date, sex: Sex, seed: int) -> None:
    """A generated code parses back to the birth date and sex it was made for."""
    code = pc.generate("EE", random.Random(seed), birth_date=born, sex=sex)
    assert pc.parse("EE", code.code) == code
    assert (code.birth_date, code.sex) == (born, sex)


@given(dates, sexes, st.integers(min_value=0, max_value=2**32),
       st.integers(min_value=0, max_value=10), st.integers(min_value=1, max_value=9))
def test_changing_one_check_digit_is_refused(born: dt.date, sex: Sex, seed: int,
                                             pos: int, delta: int) -> None:
    """Changing the check digit (position 10) is always caught; elsewhere it may be."""
    code = pc.generate("EE", random.Random(seed), birth_date=born, sex=sex).code
    bad = code[:10] + str((int(code[10]) + delta) % 10)
    with pytest.raises(InvalidPersonalCode):
        pc.parse("EE", bad)
    # Any other single-digit change: our verdict equals stdnum's.
    other = code[:pos] + str((int(code[pos]) + delta) % 10) + code[pos + 1:]
    try:
        pc.parse("EE", other)
        ours = True
    except InvalidPersonalCode:
        ours = False
    assert ours == stdnum_ik.is_valid(other)


def test_generation_is_deterministic_for_a_seed() -> None:
    """The same seed gives the same codes (reproducible test data and drills)."""
    a = [pc.generate("EE", random.Random(7)).code for _ in range(3)]
    b = [pc.generate("EE", random.Random(7)).code for _ in range(3)]
    assert a == b


def test_birth_year_outside_the_scheme_is_refused() -> None:
    """EE codes cover 1800-2199 only."""
    with pytest.raises(InvalidPersonalCode, match="1800-2199"):
        pc.generate("EE", random.Random(0), birth_date=dt.date(1799, 12, 31), sex=Sex.MALE)


def test_random_strings_agree_with_stdnum_and_isikukood() -> None:
    """On 50,000 random 11-digit strings our verdict equals python-stdnum's and isikukood's."""
    rng = random.Random(20261206)
    valid = 0
    for _ in range(N_RANDOM):
        # Random, but with a plausible G and date often enough that many are valid.
        g = rng.choice("0123456789" + "345656" * 3)
        text = (g + f"{rng.randrange(100):02d}{rng.randrange(1, 14):02d}"
                f"{rng.randrange(0, 33):02d}{rng.randrange(1000):03d}{rng.randrange(10)}")
        try:
            ours = pc.parse("EE", text)
        except InvalidPersonalCode:
            ours = None
        assert (ours is not None) == stdnum_ik.is_valid(text), text
        if ours is not None:
            valid += 1
            assert ours.birth_date == stdnum_ik.get_birth_date(text)
            assert ours.sex is not None
            assert ours.sex.value == stdnum_ik.get_gender(text)
            assert isikukood.calculate_checksum(text) == int(text[10])
    assert valid > N_RANDOM // 20  # the cross-check saw many valid codes, not just refusals


def test_generated_codes_agree_with_stdnum_and_isikukood() -> None:
    """50,000 generated codes are valid for both independent implementations."""
    rng = random.Random(5218)
    for _ in range(N_RANDOM):
        code = pc.generate("EE", rng)
        assert stdnum_ik.is_valid(code.code), code
        isikukood.assert_valid_ssn(code.code)
        assert code.birth_date is not None
        assert code.birth_date.isoformat() == isikukood.birthdate_from_ssn(code.code)


# -- Japan ------------------------------------------------------------------------------


def test_known_my_number() -> None:
    """A published valid My Number (stdnum's docstring example) parses; no birth data."""
    assert pc.parse("JP", "123456789018") == PersonalCode("JP", "123456789018")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("12345678901", "exactly 12 digits"),
        ("1234567890123", "exactly 12 digits"),
        ("1234-5678-9018", "exactly 12 digits"),
        ("123456789019", "check digit"),
    ],
)
def test_malformed_my_numbers(text: str, why: str) -> None:
    """Wrong length, separators and bad check digits are refused."""
    with pytest.raises(InvalidPersonalCode, match=why):
        pc.parse("JP", text)


def test_my_number_agrees_with_stdnum() -> None:
    """On 50,000 random 12-digit strings and 50,000 generated ones we agree with stdnum."""
    rng = random.Random(85)
    for _ in range(N_RANDOM):
        text = f"{rng.randrange(10**12):012d}"
        try:
            pc.parse("JP", text)
            ours = True
        except InvalidPersonalCode:
            ours = False
        assert ours == stdnum_jp.is_valid(text), text
        assert stdnum_jp.is_valid(pc.generate("JP", rng).code)


@given(st.integers(min_value=0, max_value=2**32))
def test_my_number_round_trip(seed: int) -> None:
    """A generated My Number parses back to itself."""
    code = pc.generate("JP", random.Random(seed))
    assert pc.parse("JP", code.code) == code


def test_my_number_refuses_birth_data() -> None:
    """Asking for a My Number with a birth date or sex is an error, not silently ignored."""
    with pytest.raises(InvalidPersonalCode, match="no birth date"):
        pc.generate("JP", random.Random(0), birth_date=dt.date(2000, 1, 1))


# -- the registry and the semantics identifier -------------------------------------------


def test_semantics_identifier_round_trip() -> None:
    """PNO<country>-<code> (ETSI EN 319 412-1 §5.1.3) names and parses a code."""
    code = pc.parse("EE", "38001085718")
    assert code.semantics_id() == "PNOEE-38001085718"
    assert pc.parse_semantics_id("PNOEE-38001085718") == code
    assert pc.parse_semantics_id("PNOJP-123456789018").country == "JP"


@pytest.mark.parametrize(
    "text", ["", "PNOEE38001085718", "IDCEE-38001085718", "PNOee-38001085718",
             "PNOXX-38001085718", "PNOEE-38001085719", "PNO", 42],
)
def test_malformed_semantics_identifiers(text: object) -> None:
    """Wrong prefix, missing dash, unknown country or a bad code are refused."""
    with pytest.raises(InvalidPersonalCode):
        pc.parse_semantics_id(text)


def test_unknown_country() -> None:
    """A country without a scheme is named in the error along with the known ones."""
    with pytest.raises(InvalidPersonalCode, match=r"'FI'.*EE, JP"):
        pc.parse("FI", "131052-308T")


def test_a_new_country_is_one_class() -> None:
    """A scheme registered at run time is used by parse(); a second one for it is refused."""

    class Toy:
        country: ClassVar[str] = "ZZ"
        carries_birth_date: ClassVar[bool] = False
        carries_sex: ClassVar[bool] = False

        def parse(self, text: str) -> PersonalCode:
            if text != "ok":
                raise InvalidPersonalCode("not ok", country="ZZ")
            return PersonalCode("ZZ", text)

        def generate(self, rng: random.Random, *, birth_date: dt.date | None = None,
                     sex: Sex | None = None) -> PersonalCode:
            return PersonalCode("ZZ", "ok")

    try:
        pc.register_scheme(Toy())
        assert pc.parse("ZZ", "ok") == PersonalCode("ZZ", "ok")
        assert "ZZ" in pc.countries()
        with pytest.raises(ValueError, match="already registered"):
            pc.register_scheme(Toy())
    finally:
        pc._SCHEMES.pop("ZZ", None)


def test_scheme_country_must_be_alpha2() -> None:
    """Registering a scheme under a non-ISO country code is a programming error."""

    class Bad(pc.JapaneseMyNumber):
        country: ClassVar[str] = "jpn"

    with pytest.raises(ValueError, match="alpha-2"):
        pc.register_scheme(Bad())


@given(st.sampled_from(["EE", "JP"]),
       st.one_of(st.text(max_size=30), st.text(alphabet="0123456789", min_size=10, max_size=13)))
def test_any_text_parses_or_is_refused_cleanly(country: str, text: str) -> None:
    """Whatever text arrives, parse returns that exact code or raises InvalidPersonalCode."""
    try:
        code = pc.parse(country, text)
    except InvalidPersonalCode:
        return
    assert (code.country, code.code) == (country, text)
    checker = stdnum_ik if country == "EE" else stdnum_jp
    assert checker.is_valid(text)


@given(st.text(max_size=40))
def test_any_text_as_semantics_id_is_refused_cleanly(text: str) -> None:
    """parse_semantics_id never fails with anything but InvalidPersonalCode."""
    try:
        code = pc.parse_semantics_id(text)
    except InvalidPersonalCode:
        return
    assert code.semantics_id() == text
