"""Language choice (RFC 9110 §12.5.4) and sessions (sild.portal.i18n, sild.portal.session)."""

from __future__ import annotations

from sild.portal.i18n import LANGUAGES, Translations, choose_language
from sild.portal.session import Person, SessionStore


def test_query_beats_cookie_beats_accept_language() -> None:
    """?lang= first, then the cookie, then the header."""
    assert choose_language("et", "ja", "en") == "et"
    assert choose_language(None, "ja", "et") == "ja"
    assert choose_language(None, None, "et-EE,en;q=0.5") == "et"


def test_quality_values_are_honoured() -> None:
    """The highest q wins; q=0 is never chosen; unknown → English."""
    assert choose_language(None, None, "en;q=0.2, ja;q=0.9") == "ja"
    assert choose_language(None, None, "ja;q=0, fr") == "en"
    assert choose_language("xx", "<script>", "zz") == "en"


def test_every_language_translates_the_navigation() -> None:
    """Estonian and Japanese have the menu; a missing message falls back to English."""
    t = Translations()
    for lang in LANGUAGES[1:]:
        assert t.gettext(lang)("My data") != "My data"
    assert t.gettext("ja")("no such message") == "no such message"


def test_log_in_replaces_the_session_id() -> None:
    """Logging in gives a new id and CSRF token; the old id is gone (no fixation)."""
    store = SessionStore()
    s = store.new(now=0)
    p = Person("EE38001085718", "Mari", "EE38001085718", "Mari")
    new = store.log_in(s, p, now=1)
    assert new.id != s.id
    assert new.csrf != s.csrf
    assert store.get(s.id, now=2) is None
    assert store.get(new.id, now=2) is new


def test_an_idle_session_expires() -> None:
    """A session unused for longer than the idle limit is gone."""
    store = SessionStore(idle=10)
    s = store.new(now=0)
    assert store.get(s.id, now=5) is s
    assert store.get(s.id, now=16) is None


def test_the_store_is_bounded() -> None:
    """Past the limit the oldest sessions go first."""
    store = SessionStore(limit=3)
    first = store.new(now=0)
    for i in range(3):
        store.new(now=i)
    assert store.get(first.id, now=3) is None


def test_csrf_check_is_exact() -> None:
    """Only the session's own token passes; None, empty and others fail."""
    s = SessionStore().new(now=0)
    assert s.csrf_ok(s.csrf)
    for bad in (None, "", s.csrf + "x", 123):
        assert not s.csrf_ok(bad)
