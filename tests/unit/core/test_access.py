"""Access rules: X-Road's endpoint matching, path normalisation and deny-by-default."""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sild.core.access import (
    AccessRule,
    Endpoint,
    LocalGroupId,
    allowed_endpoints,
    decide,
    normalise_request_path,
    parse_subject,
    path_matches,
)
from sild.core.identifiers import ClientId, GlobalGroupId, MemberId, SubsystemId
from sild.errors import InvalidIdentifier, InvalidRequest

ORG = MemberId("EE", "GOV", "70000001")
APP = SubsystemId(ORG, "app")
OTHER = SubsystemId(MemberId("EE", "COM", "12345"), "shop")
GROUP = GlobalGroupId("EE", "security-servers")


def no_global(_: GlobalGroupId) -> tuple[ClientId, ...]:
    return ()


def check(rules: list[AccessRule], client: ClientId = APP, method: str = "GET",
          path: str = "/x", service: str = "svc",
          local: dict[str, frozenset[ClientId]] | None = None,
          groups: dict[GlobalGroupId, tuple[ClientId, ...]] | None = None) -> bool:
    g = groups or {}
    return bool(decide(rules, client=client, service_code=service, method=method, path=path,
                       global_groups=lambda gid: g.get(gid, ()), local_groups=local or {}))


# -- X-Road's own vectors (PathGlobTest, package ee.ria.xroad.proxy.conf) -------------

XROAD_VECTORS = [
    ("**", "", True), ("***", "match/anything/*", True), ("**", "/a/b/c", True),
    ("/*/", "/a/", True), ("/*/", "/a/b/", False), ("", "", True), ("", " ", False),
    (".^$+{[]|()", ".^$+{[]|()", True), ("**/bar/**", "a/b/c/bar/e/f", True),
    ("**/bar/**", "a/b/c/foo/e/f", False), ("**\\*", "/what/ever*", True),
    ("**\\*", "/what/ever!", False), ("simple", "simple", True),
    ("simple", "prefix.simple.suffix", False),
    ("**/*/**", "something/bar/something/else", True), ("**/*/**", "/bar/", True),
    ("**/*/**", "//", True), ("**/*/**", "something/else", False),
    ("\\A", "\\A", True), ("\\*", "*", True), ("\\*", "\\*", False), ("\\\\", "\\", True),
    ("aa\\", "aa\\", True),
]


@pytest.mark.parametrize(("glob", "path", "expected"), XROAD_VECTORS)
def test_xroad_pathglob_vectors(glob: str, path: str, expected: bool) -> None:
    """Every case of X-Road's PathGlobTest gives the same answer here."""
    assert path_matches(glob, path) is expected


# -- an independent reference matcher, for property tests -----------------------------

def _tokens(glob: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(glob):
        c = glob[i]
        if c == "\\" and i + 1 < len(glob) and glob[i + 1] in "*\\":
            out.append(("lit", glob[i + 1]))
            i += 2
        elif c == "*":
            j = i
            while j < len(glob) and glob[j] == "*":
                j += 1
            out.append(("any", "") if j - i >= 2 else ("seg", ""))
            i = j
        else:
            out.append(("lit", c))
            i += 1
    return out


def reference_match(glob: str, path: str) -> bool:
    toks = _tokens(glob)

    @cache
    def m(t: int, p: int) -> bool:
        if t == len(toks):
            return p == len(path)
        kind, ch = toks[t]
        if kind == "lit":
            return p < len(path) and path[p] == ch and m(t + 1, p + 1)
        if kind == "seg":
            # '*' is possessive in X-Road ("[^/]*+"): it takes every non-'/' character
            # and never gives one back
            q = p
            while q < len(path) and path[q] != "/":
                q += 1
            return m(t + 1, q)
        # '**' may eat any number of characters
        q = p
        while True:
            if m(t + 1, q):
                return True
            if q == len(path):
                return False
            q += 1

    return m(0, 0)


globs = st.text(alphabet="a/*\\.?", max_size=10)
paths = st.text(alphabet="a/*\\.?", max_size=12)


@given(globs, paths)
def test_matcher_agrees_with_reference(glob: str, path: str) -> None:
    """The regex translation agrees with a direct backtracking matcher on random globs."""
    assert path_matches(glob, path) is reference_match(glob, path)


@given(st.text(alphabet="ab/.-_~", max_size=15), st.text(alphabet="ab/.-_~", max_size=15))
def test_glob_without_wildcards_is_equality(glob: str, path: str) -> None:
    """A pattern with no '*' or '\\' matches exactly one path: itself."""
    assert path_matches(glob, path) is (glob == path)


@given(st.text(alphabet="ab/.", max_size=15))
def test_single_star_never_crosses_a_slash(rest: str) -> None:
    """'/pet/*' matches '/pet/' + s exactly when s holds no '/'."""
    assert path_matches("/pet/*", "/pet/" + rest) is ("/" not in rest)


def test_single_star_is_possessive_as_in_xroad() -> None:
    """'*' swallows the whole segment, so '/pets/*.json' never matches (X-Road '[^/]*+')."""
    assert not path_matches("/pets/*.json", "/pets/a.json")
    assert path_matches("/pets/**.json", "/pets/a.json")


@given(st.text(max_size=30))
def test_double_star_matches_every_path(path: str) -> None:
    """'**' is X-Road's ANY_PATH."""
    assert path_matches("**", path)


# -- Endpoint --------------------------------------------------------------------------

@given(st.sampled_from(["GET", "get", "Post", "DELETE", "patch", "TRACE"]))
def test_any_method_matches_every_method(method: str) -> None:
    """Method '*' matches any verb; a named method matches case-insensitively."""
    assert Endpoint("*", "/a").matches(method, "/a")
    assert Endpoint(method, "/a").matches(method.swapcase(), "/a")


def test_named_method_does_not_match_another() -> None:
    """GET does not allow POST on the same path."""
    assert not Endpoint("GET", "/a").matches("POST", "/a")


@pytest.mark.parametrize("text", ["GET", "FETCH /a", "GET a/b", "GET /a b", "GET /\x00"])
def test_malformed_endpoints_are_refused(text: str) -> None:
    """Unknown verbs, relative paths, spaces and control characters are InvalidRequest."""
    with pytest.raises(InvalidRequest):
        Endpoint.parse(text)


def test_endpoint_parse_normalises_method() -> None:
    """'get /pets/*' parses to GET /pets/*."""
    assert Endpoint.parse("get /pets/*") == Endpoint("GET", "/pets/*")


@pytest.mark.parametrize("code", ["", "a b", "x/y", "ä"])
def test_bad_local_group_codes_are_refused(code: str) -> None:
    """Local group codes follow the identifier alphabet (plus '_')."""
    with pytest.raises(InvalidIdentifier):
        LocalGroupId(code)


# -- request path normalisation ---------------------------------------------------------

@pytest.mark.parametrize(("raw", "normal"), [
    ("/a/b", "/a/b"), ("/a/./b", "/a/b"), ("/a/x/../b", "/a/b"), ("/a//b", "/a/b"),
    ("/a/b/", "/a/b/"), ("/%61", "/a"), ("/a%2Fb", "/a%2Fb"), ("/a%2fb", "/a%2Fb"),
    ("", ""), ("/", "/"), ("/%C3%A4", "/ä"),
])
def test_path_normalisation(raw: str, normal: str) -> None:
    """Decode, drop dot segments and fold '//' as X-Road's decodeAndNormalize does."""
    assert normalise_request_path(raw) == normal


@pytest.mark.parametrize("raw", [
    "/../etc", "/a/../../b", "/%2e%2e/x", "/a/%2E%2E/%2E%2E/b", "/a?b=1", "/a%zz", "/a%4",
    "a/b", "/a b", "/%C3", "/a%20b", "/x" * 2000, "/a..b",
])
def test_suspicious_paths_are_refused(raw: str) -> None:
    """Traversal, queries, bad encoding, spaces and over-long paths give None."""
    assert normalise_request_path(raw) is None


# -- decide ------------------------------------------------------------------------------

methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"])


@given(methods, st.text(max_size=40), st.text(alphabet="abc", min_size=1, max_size=5))
def test_no_rule_means_denied(method: str, path: str, service: str) -> None:
    """With no rules, every request is denied."""
    assert not check([], method=method, path=path, service=service)


@given(methods, st.text(alphabet="/abc.", max_size=20))
def test_rules_of_another_service_do_not_apply(method: str, path: str) -> None:
    """A whole-service grant for 'other' says nothing about 'svc'."""
    assert not check([AccessRule(APP, "other")], method=method, path="/" + path)


@given(methods, st.text(alphabet="/abc.", max_size=20))
def test_service_level_grant_allows_every_endpoint(method: str, path: str) -> None:
    """A grant without an endpoint allows every method and (acceptable) path."""
    assert check([AccessRule(APP, "svc")], method=method, path="/" + path.replace("..", ""))


def test_service_level_grant_still_refuses_traversal() -> None:
    """Even a whole-service grant does not let '..' through."""
    assert not check([AccessRule(APP, "svc")], path="/../admin")


def test_endpoint_grant_allows_only_matching_requests() -> None:
    """GET /pets/* allows GET /pets/1, not POST /pets/1 nor GET /pets/1/owner."""
    rules = [AccessRule(APP, "svc", Endpoint("GET", "/pets/*"))]
    assert check(rules, method="GET", path="/pets/1")
    assert not check(rules, method="POST", path="/pets/1")
    assert not check(rules, method="GET", path="/pets/1/owner")


def test_endpoint_grant_cannot_be_escaped_with_dot_segments() -> None:
    """GET /public/** does not allow /public/../secret (normalised to /secret)."""
    rules = [AccessRule(APP, "svc", Endpoint("GET", "/public/**"))]
    assert check(rules, path="/public/a/b")
    assert not check(rules, path="/public/../secret")
    assert not check(rules, path="/public/%2e%2e/secret")


def test_grant_to_one_client_does_not_admit_another() -> None:
    """A subsystem grant admits neither another subsystem nor its own member."""
    rules = [AccessRule(APP, "svc")]
    assert check(rules, client=APP)
    assert not check(rules, client=OTHER)
    assert not check(rules, client=ORG)


def test_member_grant_admits_the_member_only() -> None:
    """A member-level subject matches a member client exactly, not its subsystems."""
    rules = [AccessRule(ORG, "svc")]
    assert check(rules, client=ORG)
    assert not check(rules, client=APP)


def test_global_group_grant_follows_membership() -> None:
    """A global-group grant admits exactly the group's members."""
    rules = [AccessRule(GROUP, "svc")]
    groups = {GROUP: (APP,)}
    assert check(rules, client=APP, groups=groups)
    assert not check(rules, client=OTHER, groups=groups)
    assert not check(rules, client=APP, groups={})


def test_local_group_grant_follows_membership() -> None:
    """A local-group grant admits exactly the members of that local group."""
    rules = [AccessRule(LocalGroupId("partners"), "svc", Endpoint("GET", "/x"))]
    local = {"partners": frozenset({OTHER}), "staff": frozenset({APP})}
    assert check(rules, client=OTHER, local=local)
    assert not check(rules, client=APP, local=local)


def test_decision_names_the_granting_rule() -> None:
    """An allowing decision carries the rule that allowed it; a denial carries none."""
    rule = AccessRule(APP, "svc", Endpoint("*", "/x"))
    yes = decide([rule], client=APP, service_code="svc", method="PUT", path="/x",
                 global_groups=no_global, local_groups={})
    no = decide([rule], client=APP, service_code="svc", method="PUT", path="/y",
                global_groups=no_global, local_groups={})
    assert yes.allowed
    assert yes.rule == rule
    assert not no.allowed
    assert no.rule is None


# -- allowedMethods -------------------------------------------------------------------

ENDPOINTS = (Endpoint("GET", "/pets"), Endpoint("GET", "/pets/*"), Endpoint("POST", "/pets"))


def test_allowed_endpoints_is_none_without_an_applicable_rule() -> None:
    """A client with no rule for the service does not see it at all."""
    assert allowed_endpoints([AccessRule(OTHER, "svc")], ENDPOINTS, client=APP,
                             service_code="svc", global_groups=no_global,
                             local_groups={}) is None


def test_allowed_endpoints_filters_by_endpoint_rules() -> None:
    """An endpoint rule lists the service endpoints it matches; a service rule lists all."""
    rules = [AccessRule(APP, "svc", Endpoint("GET", "/pets/**"))]
    got = allowed_endpoints(rules, ENDPOINTS, client=APP, service_code="svc",
                            global_groups=no_global, local_groups={})
    assert got == (Endpoint("GET", "/pets/*"),)
    whole = allowed_endpoints([AccessRule(APP, "svc")], ENDPOINTS, client=APP,
                              service_code="svc", global_groups=no_global, local_groups={})
    assert whole == ENDPOINTS


@pytest.mark.parametrize(("text", "subject"), [
    ("EE/COM/12345/shop", OTHER), ("EE/GOV/70000001", ORG),
    ("group:EE/security-servers", GROUP), ("local:partners", LocalGroupId("partners")),
])
def test_parse_subject(text: str, subject: object) -> None:
    """Operators write clients as ids, global groups as group:…, local groups as local:…."""
    assert parse_subject(text) == subject


@pytest.mark.parametrize("text", ["group:EE", "local:", "EE/GOV", "other:EE/X"])
def test_parse_subject_rejects_malformed(text: str) -> None:
    """A malformed subject is InvalidIdentifier."""
    with pytest.raises(InvalidIdentifier):
        parse_subject(text)
