"""The stage runner: stages in order, one refusal path for errors and crashes, and a
refused finish (e.g. the message log failed) never releases the answer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sild.errors import AccessDenied, InternalError, SildError, StorageError
from sild.gateway.exchange.pipeline import Pipeline


@dataclass
class Rec:
    seen: list[str] = field(default_factory=list)


class Mark:
    def __init__(self, name: str, fail: Exception | None = None) -> None:
        self.name, self.fail = name, fail

    async def __call__(self, rec: Rec) -> None:
        rec.seen.append(self.name)
        if self.fail is not None:
            raise self.fail


async def _finish(rec: Rec) -> str:
    return "answered:" + ",".join(rec.seen)


async def _refuse(rec: Rec, error: SildError) -> str:
    return f"refused:{type(error).__name__}:" + ",".join(rec.seen)


def _run(*stages: Mark, finish: object = _finish) -> str:
    pipeline: Pipeline[Rec, str] = Pipeline(list(stages), finish=finish,  # type: ignore[arg-type]
                                            refuse=_refuse)
    return asyncio.run(pipeline.run(Rec()))


def test_stages_run_in_order_then_finish() -> None:
    """Every stage sees the record, in list order, before the answer."""
    assert _run(Mark("a"), Mark("b"), Mark("c")) == "answered:a,b,c"


def test_a_refusal_stops_the_pipeline() -> None:
    """A stage's SildError goes to refuse; later stages do not run."""
    assert _run(Mark("a"), Mark("b", AccessDenied("no")), Mark("c")) == \
        "refused:AccessDenied:a,b"


def test_a_crash_is_refused_as_internal_error() -> None:
    """A bug in a stage is answered as InternalError, never propagated."""
    assert _run(Mark("a", ZeroDivisionError())) == "refused:InternalError:a"


def test_a_failed_finish_is_refused() -> None:
    """If finishing (logging) fails, the answer is the refusal, not the response."""
    async def failing_finish(rec: Rec) -> str:
        raise StorageError("log down")

    assert _run(Mark("a"), finish=failing_finish) == "refused:StorageError:a"


def test_internal_error_message_names_only_the_type() -> None:
    """The client sees the exception type, not its text (which may hold secrets)."""
    got: list[SildError] = []

    async def refuse(rec: Rec, error: SildError) -> str:
        got.append(error)
        return "x"

    pipeline: Pipeline[Rec, str] = Pipeline([Mark("a", ValueError("secret=42"))],
                                            finish=_finish, refuse=refuse)
    asyncio.run(pipeline.run(Rec()))
    assert isinstance(got[0], InternalError)
    assert "secret" not in got[0].message
