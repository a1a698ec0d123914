"""The provider pipeline's data-tracker stages (docs/spec/tracker.md §1, §2, §6).

::

    (4c) AccessRights → (4d) DataSubjects → (4e) ConsentCheck → (5) CallInformationSystem
        → (5) ResponseSubjects → (5) SignResponse → (5) RecordUsage → log → answer

* **DataSubjects** reads what a request to a personal-data service must carry: its
  data subjects (``Sild-Data-Subject``, valid personal codes, at most the service's
  maximum), the purpose (``Sild-Purpose``), and optionally ``Sild-Emergency``
  (break-glass: only clients in the registry's emergency group) and ``Sild-Consent``.
  Missing or invalid: a ``Client.*`` error, nothing forwarded.
* **ConsentCheck** asks the consent service for every subject; a lock refuses the
  request with ``Server.ServerProxy.AccessDenied`` saying that the person locked it,
  unless the client holds a legal exception (registry group; recorded as such) or
  sends a break-glass reason (recorded, flagged and notified). No answer from the
  consent service: fail closed.
* **ResponseSubjects**: the provider IS may name further subjects in a
  ``Sild-Data-Subject`` response header; they are checked like the request's (an
  invalid code or a lock withholds the response).
* **RecordUsage** adds one usage record per subject to the exchange's pending log
  records, so they commit with the message-log records in one transaction (§2).
  Requests from the registry's covert group are recorded *sealed* (§4).
"""

from __future__ import annotations

import structlog

from sild.core.globalconf import GlobalConf
from sild.core.headertext import check_header
from sild.core.identifiers import ClientId, GlobalGroupId, SubsystemId
from sild.core.usage import (
    CONSENT_HEADER,
    EMERGENCY_HEADER,
    MAX_REASON,
    PURPOSE_HEADER,
    SUBJECT_HEADER,
    parse_purpose,
    parse_subjects,
)
from sild.errors import AccessDenied, EmergencyNotPermitted, InvalidRequest
from sild.gateway.exchange.pipeline import ContextStage
from sild.gateway.exchange.record import IsReply, PersonalUse, ProviderExchange
from sild.gateway.messagelog.usage import UsageRecord

__all__ = ["ConsentCheck", "DataSubjects", "PersonalUse", "RecordUsage", "ResponseSubjects",
           "in_group"]

log = structlog.get_logger("sild.gateway.tracker")

MAX_CONSENT = 16 * 1024  # a consent artefact (JWS) or its id


def in_group(conf: GlobalConf, client: ClientId, group: GlobalGroupId) -> bool:
    """``client`` or, for a subsystem, its member is listed in the registry's group."""
    members = conf.group_members(group)
    return client in members or (isinstance(client, SubsystemId) and client.member in members)


def _headers(ex: ProviderExchange, name: str) -> list[str]:
    assert ex.request is not None
    low = name.lower()
    return [v for k, v in ex.request.header.headers if k == low]


class DataSubjects(ContextStage):
    """(4d) Subjects, purpose, break-glass and consent of a personal-data request."""

    async def __call__(self, ex: ProviderExchange) -> None:
        target, view = ex.target, ex.view
        data = getattr(target, "personal_data", None)
        if data is None or view is None or ex.client is None:
            return  # not a personal-data service (or a metaservice)
        purpose = parse_purpose(_headers(ex, PURPOSE_HEADER))
        registered = view.conf.purpose(purpose)  # a code the registry publishes, or text
        use = ex.personal = PersonalUse(
            data=data, purpose=purpose, purpose_code=registered.code if registered else "",
            action=registered.text if registered else purpose)
        if not data.bulk:  # bulk: no per-person records (research/citizen.md §1.5)
            use.subjects = list(parse_subjects(_headers(ex, SUBJECT_HEADER),
                                               max_subjects=data.max_subjects))
        settings = self.ctx.tracker
        instance = self.ctx.server.instance
        emergency = _headers(ex, EMERGENCY_HEADER)
        if emergency:
            if not in_group(view.conf, ex.client, GlobalGroupId(instance,
                                                                 settings.emergency_group)):
                raise EmergencyNotPermitted(
                    f"{ex.client} may not send {EMERGENCY_HEADER}: break-glass access is "
                    f"only for the registry's {settings.emergency_group!r} group")
            if len(emergency) > 1 or not emergency[0].strip():
                raise InvalidRequest(f"{EMERGENCY_HEADER} must be given once, with a reason")
            use.emergency = check_header(EMERGENCY_HEADER, emergency[0].strip(),
                                         limit=MAX_REASON)
        consent = _headers(ex, CONSENT_HEADER)
        if consent:
            if len(consent) > 1:
                raise InvalidRequest(f"{CONSENT_HEADER} must be given once")
            use.consent = check_header(CONSENT_HEADER, consent[0].strip(), limit=MAX_CONSENT)
        use.sealed = in_group(view.conf, ex.client, GlobalGroupId(instance,
                                                                 settings.covert_group))


class ConsentCheck(ContextStage):
    """(4e) A person's lock refuses the request unless an exception or break-glass applies."""

    async def __call__(self, ex: ProviderExchange) -> None:
        use = ex.personal
        if use is None or not use.subjects:
            return
        await check_consent(self, ex, use, use.subjects)


async def check_consent(stage: ContextStage, ex: ProviderExchange, use: PersonalUse,
                        subjects: list[str]) -> None:
    """Ask the consent service about ``subjects``; refuse, or note how each passed."""
    consent = stage.ctx.consent
    if consent is None or ex.client is None or ex.view is None:
        return
    settings = stage.ctx.tracker
    exempt = in_group(ex.view.conf, ex.client,
                      GlobalGroupId(stage.ctx.server.instance, settings.exception_group))
    for subject in subjects:
        answer = await consent.decide(subject, use.data.categories, str(ex.client),
                                      use.purpose, use.consent)
        if answer.consent_id:
            use.consent_ids[subject] = answer.consent_id
        if answer.allowed:
            continue
        flags = use.flags.setdefault(subject, set())
        if exempt:
            flags.add("exception")  # a legal exception the registry granted
        elif use.emergency:
            flags.add("lock-overridden")  # break-glass: allowed, flagged, notified
        else:
            locked = ", ".join(answer.locked) or ", ".join(use.data.categories)
            raise AccessDenied(
                f"Request is not allowed: the person {subject} has locked their {locked} "
                f"data", service=str(ex.service), client=str(ex.client),
                reason=answer.reason or "locked by the person")


class ResponseSubjects(ContextStage):
    """(5) Further subjects the provider IS named in its response."""

    async def __call__(self, ex: ProviderExchange) -> None:
        use, reply = ex.personal, ex.reply
        if reply is None:
            return
        low = SUBJECT_HEADER.lower()
        named = [v for k, v in reply.headers if k.lower() == low]
        if not named:
            return
        ex.reply = IsReply(reply.status, tuple((k, v) for k, v in reply.headers
                                                if k.lower() != low), reply.body)
        if use is None:
            return  # not a personal-data service: the header means nothing here
        try:
            more = [s for s in parse_subjects(named, max_subjects=use.data.max_subjects)
                    if s not in use.subjects]
        except Exception as e:  # our own IS sent it: withhold the data, say why
            raise InvalidRequest(f"the information system named an invalid data subject "
                                 f"in {SUBJECT_HEADER}: {e}") from e
        await check_consent(self, ex, use, more)
        for s in more:
            use.flags.setdefault(s, set()).add("named-by-provider")
        use.subjects.extend(more)


class RecordUsage(ContextStage):
    """(5) One usage record per subject, committed with the message-log records (§2)."""

    async def __call__(self, ex: ProviderExchange) -> None:
        use = ex.personal
        if use is None or ex.client is None or ex.service is None or ex.view is None:
            return
        member = ex.view.conf.member(ex.client.member)
        base = set()
        if use.sealed:
            base.add("sealed")
        if use.emergency:
            base.add("emergency")
        if use.consent is not None:
            base.add("consent-presented")
        when = ex.response_in or ex.request_in
        for subject in use.subjects:
            ex.pending.append(UsageRecord(
                register=str(ex.service.subsystem), subject=subject, logged_at=when,
                action=use.action, purpose_code=use.purpose_code,
                legal_basis=use.data.legal_basis,
                receiver=str(ex.client), receiver_name=member.name if member else "",
                user_id=ex.user_id, service=str(ex.service), message_id=ex.message_id,
                request_id=ex.request_id, consent_id=use.consent_ids.get(subject, ""),
                categories=use.data.categories,
                flags=tuple(base | use.flags.get(subject, set())), reason=use.emergency))
        if use.emergency:
            log.warning("break_glass", client=str(ex.client), service=str(ex.service),
                        subjects=len(use.subjects), request_id=ex.request_id)
