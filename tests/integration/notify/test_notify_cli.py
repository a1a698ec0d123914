"""`sild notify …` as an operator runs it: a real instance, the real command, a real
`sild notify serve` process that takes events over HTTP and delivers them to a webhook;
bad input is one line and exit 2 (docs/guide.md "Notifications")."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from sild.embedded import free_port
from sild.testing.cli import own_lines, running, sild
from sild.testing.notify import ServerThread, WebhookSink, sample_event

PERSON = "EE38001085718"


@pytest.fixture
def inst(tmp_path: Path) -> Path:
    root = tmp_path / "inst"
    assert sild("init", str(root), "--instance", "EE") == 0
    assert sild("notify", "init", "--dir", str(root), "--allow-network", "127.0.0.0/8") == 0
    return root


def notify(inst: Path, *args: str) -> int:
    return sild("notify", *args, "--dir", str(inst))


def test_init_files_and_refuses_twice(inst: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (inst / "notify" / "admin-token").stat().st_mode & 0o777 == 0o600
    assert '"127.0.0.0/8"' in (inst / "notify" / "notify.toml").read_text()
    capsys.readouterr()
    assert notify(inst, "init") == 2
    err = capsys.readouterr().err
    assert "exists" in err
    assert len(own_lines(err).splitlines()) == 1


def test_subscribe_list_inbox_unsubscribe(inst: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    assert notify(inst, "subscribe", PERSON, "--inbox", "--category", "health") == 0
    assert notify(inst, "subscribe", PERSON, "--webhook", "https://hooks.example.com/a",
                  "--emergency-only") == 0
    out = capsys.readouterr().out
    assert "signing secret (shown once" in out
    sub_ids = re.findall(r"subscription (sub_\S+):", out)
    assert len(sub_ids) == 2
    assert notify(inst, "list", PERSON) == 0
    out = capsys.readouterr().out
    assert "hooks.example.com" in out
    assert "break-glass only" in out
    assert notify(inst, "inbox", PERSON) == 0
    assert "0 notices, 0 unread" in capsys.readouterr().out
    assert notify(inst, "unsubscribe", PERSON, sub_ids[1]) == 0
    assert notify(inst, "unsubscribe", PERSON, sub_ids[1]) == 2  # gone


@pytest.mark.parametrize("args", [
    ("subscribe", "EE38001085719", "--inbox"),
    ("subscribe", PERSON, "--webhook", "file:///etc/passwd"),
    ("subscribe", PERSON, "--webhook", "http://10.1.2.3/"),
    ("subscribe", PERSON, "--webhook", "https://u:p@example.com/"),
    ("subscribe", PERSON, "--inbox", "--category", "Health!"),
    ("list", "garbage"),
    ("inbox", PERSON, "--limit", "0"),
    ("unsubscribe", PERSON, "sub_nothing"),
])
def test_bad_input_one_line_exit_2(inst: Path, capsys: pytest.CaptureFixture[str],
                                   args: tuple[str, ...]) -> None:
    """Each malformed argument: one line on stderr, exit 2, no traceback."""
    capsys.readouterr()
    assert notify(inst, *args) == 2
    err = capsys.readouterr().err
    assert len(own_lines(err).splitlines()) == 1
    assert "Traceback" not in err


def test_without_init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sild("init", str(tmp_path / "i"), "--instance", "EE") == 0
    assert sild("notify", "list", PERSON, "--dir", str(tmp_path / "i")) == 2
    assert "sild notify init" in capsys.readouterr().err


def test_serve_takes_events_and_delivers(inst: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    """`sild notify serve`: an event POSTed to it reaches the webhook the CLI subscribed,
    signed with the secret it printed; the inbox lists it; Ctrl-C ends it."""
    sink = WebhookSink()
    with ServerThread(sink, lifespan="off") as hooks:
        assert notify(inst, "subscribe", PERSON, "--webhook", f"{hooks.url}/ok/p") == 0
        assert notify(inst, "subscribe", PERSON, "--inbox") == 0
        secret = re.search(r"(whsec_\S+)", capsys.readouterr().out).group(1)  # type: ignore[union-attr]
        port = free_port()
        with running("notify", "serve", "--dir", str(inst), "--listen", f"127.0.0.1:{port}",
                     port=port) as done:
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/events", method="POST",
                data=json.dumps({"events": [sample_event(1)]}).encode(),
                headers={"Content-Type": "application/json",
                         "X-Road-Client": "EE/GOV/70000001/tracker"})
            with urllib.request.urlopen(req, timeout=10) as r:
                assert json.loads(r.read())["accepted"] == 1
            (got,) = sink.wait_for("/ok/p", 1, timeout=10)
        assert Webhook(secret).verify(got.body, got.headers)["usage"]["seq"] == 1
        assert done["code"] == 130, done["err"]
        assert "Traceback" not in str(done["err"])
    capsys.readouterr()
    assert notify(inst, "inbox", PERSON, "--mark-read") == 0
    out = capsys.readouterr().out
    assert "1 notices, 1 unread" in out
    assert "1 marked read" in out
