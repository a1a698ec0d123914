"""``sild exercise``: a Locked Shields-style drill against a live Sild network.

Issue #12 ("`sild exercise` — a Locked Shields-style drill"); research/citizen.md §5.
Each attack is a small coroutine in one module per family (:mod:`.peer`,
:mod:`.is_port`, :mod:`.consent`, :mod:`.logs`, :mod:`.flood`); each returns a
:class:`~sild.exercise.model.Result` saying what stopped or detected it, with the
evidence (the X-Road error code, the audit finding, …). An attack that succeeds
undetected makes the drill fail (:func:`~sild.exercise.model.exit_code`).
"""

from sild.exercise.model import Attack, Outcome, Result, exit_code
from sild.exercise.run import ATTACKS, run_attacks
from sild.exercise.target import Target

__all__ = ["ATTACKS", "Attack", "Outcome", "Result", "Target", "exit_code", "run_attacks"]
