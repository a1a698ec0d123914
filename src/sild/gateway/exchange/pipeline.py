"""A gateway side as a short list of typed stages (ARCHITECTURE.md §4 "The pipeline").

A stage is an object with an async ``__call__(record)``: it reads what earlier stages
set on the record, sets its own fields, and either returns (pass the record on) or
raises one :class:`~sild.errors.SildError` (refuse). :class:`Pipeline` runs the stages
in order and, whatever happens, hands the record to the side's ``finish`` (answer and
log) or ``refuse`` (error answer and log) callback — so the log record of a refused or
crashed exchange is still written. Adding a capability is one stage class and one line
in the side's stage list (docs/spec/exchange.md §7).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, Protocol, TypeVar

import structlog

from sild.errors import InternalError, SildError
from sild.gateway.context import GatewayContext

__all__ = ["ContextStage", "Pipeline", "Stage"]

log = structlog.get_logger("sild.gateway.exchange")

R = TypeVar("R")
R_contra = TypeVar("R_contra", contravariant=True)
A = TypeVar("A")


class Stage(Protocol[R_contra]):
    """One step of a side's pipeline; refuses by raising a SildError."""

    async def __call__(self, record: R_contra, /) -> None: ...


class ContextStage:
    """Base of the stages that need only the gateway's shared context."""

    def __init__(self, ctx: GatewayContext) -> None:
        self.ctx = ctx


class Pipeline(Generic[R, A]):
    """Run ``stages`` over a record; ``finish`` answers a passed record, ``refuse`` a
    refused one (both also write its log records)."""

    def __init__(self, stages: Sequence[Stage[R]], *,
                 finish: Callable[[R], Awaitable[A]],
                 refuse: Callable[[R, SildError], Awaitable[A]]) -> None:
        self.stages = tuple(stages)
        self._finish = finish
        self._refuse = refuse

    async def run(self, record: R) -> A:
        try:
            for stage in self.stages:
                await stage(record)
        except SildError as e:
            return await self._refuse(record, e)
        except Exception as e:  # a bug: answer in protocol, keep the traceback in the log
            log.exception("exchange_crashed", stage=type(stage).__name__,
                          exc_type=type(e).__name__)
            return await self._refuse(record, InternalError(
                f"internal error ({type(e).__name__})"))
        try:
            return await self._finish(record)
        except SildError as e:  # e.g. the message log refused the records: not released
            return await self._refuse(record, e)
