"""One gateway process: its three ports, background work, start and stop.

* IS port (plain HTTP, default 127.0.0.1:8080): ``/r1/…``, ``GET /listClients`` and SOAP
  (any other POST, docs/spec/soap.md);
* peer port (mutual TLS, default 5500): ``POST /sild/v1/message``;
* admin port (localhost, default 5566): ``/health``, ``/metrics``, ``/maintenance``,
  ``/status`` and the service management API.

The IS port runs on aiohttp's server (it faces any HTTP client an IS may use). The peer
port, which only other gateways reach over mutual TLS, runs the lean httptools server
(sild.gateway.exchange.lean_server; 9 % less provider CPU per request than aiohttp's
server, docs/benchmarks.md), and both outbound hops the lean pooled HTTP/1.1 client
(sild.gateway.exchange.lean_http): aiohttp's client cost a third of each gateway's loop.

Both exchange ports ask admission (sild.gateway.admission; docs/spec/exchange.md §8) on
each request head — per client subsystem on the IS port, per calling gateway on the peer
port, and a global in-flight bound per side — and close connections whose request head
or body is too slow (sild.web.deadlines; ``[limits]`` header/body/keepalive timeouts).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from sild.confclient import ConfClient
from sild.core.anchor import parse_anchor
from sild.core.identifiers import parse_client
from sild.crypto.tls import client_context, server_context, trust_cas
from sild.embedded import start_embedded
from sild.errors import ConfigurationError, SildError
from sild.gateway.admission import SHARED, Gate, Quota, Ticket
from sild.gateway.anchoring.anchorer import Anchorer
from sild.gateway.config import GatewaySettings
from sild.gateway.context import AccessPort, GatewayContext, LogPort
from sild.gateway.exchange.consumer import FRAME_OVERHEAD, consumer_pipeline
from sild.gateway.exchange.front import (
    EarlyAdmission,
    add_is_routes,
    consumer_handler,
    to_response,
)
from sild.gateway.exchange.lean_http import HttpPool
from sild.gateway.exchange.lean_server import PeerServerProtocol, Timeouts
from sild.gateway.exchange.metaservices import list_clients
from sild.gateway.exchange.provider import provider_pipeline
from sild.gateway.exchange.record import Answer, Incoming, ProviderExchange
from sild.gateway.exchange.soap_consumer import soap_consumer_pipeline
from sild.gateway.exchange.transports import (
    MESSAGE_PATH,
    LeanIsTransport,
    LeanPeerTransport,
)
from sild.gateway.metrics import GatewayMetrics
from sild.gateway.replay_shared import SharedReplay
from sild.gateway.serverconf.is_clients import load_is_clients
from sild.gateway.signer import SignKeys
from sild.gateway.tracker_notifier import TrackerNotifier
from sild.instance import parse_listen
from sild.soap.wsdl_http import wsdl_handler
from sild.store import make_engine
from sild.web.deadlines import Deadlines, WatchedProtocol
from sild.web.errors import answer_for
from sild.web.listen import create_server

__all__ = ["Gateway"]

log = structlog.get_logger("sild.gateway")

# Admission keys remembered per configuration version (client header texts, peer
# certificates); past it keys are looked up again each time.
MAX_KEYS = 10_000


def _load_jwks(path: Path) -> dict[str, Any]:
    """The OpenID provider's JWKS (``GET /jwks`` saved to a file)."""
    try:
        data = json.loads(path.read_bytes())
    except OSError as e:
        raise ConfigurationError(f"cannot read [tracker] assertion_jwks {path}: "
                                 f"{e.strerror}") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigurationError(f"[tracker] assertion_jwks {path} is not JSON") from e
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ConfigurationError(f"[tracker] assertion_jwks {path} is not a JWKS")
    return data


@dataclass
class Gateway:
    """A running gateway; ``await start()`` then ``await stop()`` (or ``async with``)."""

    settings: GatewaySettings
    log_port: LogPort
    access: AccessPort
    passphrase: bytes | None = None
    admin_app_factory: Callable[[Gateway], Any] | None = None
    # Several processes of this gateway on one host share its ports (SO_REUSEPORT;
    # `sild gateway serve --processes N`, docs/operations.md "Active-active topology").
    reuse_port: bool = False
    # Never lead anchoring (the extra processes on SQLite, where nothing elects a leader).
    anchoring_standby: bool = False
    metrics: GatewayMetrics = field(default_factory=GatewayMetrics)
    ctx: GatewayContext = field(init=False)
    confclient: ConfClient = field(init=False)
    _runners: list[web.AppRunner] = field(default_factory=list, init=False)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list, init=False)
    _renewals: list[asyncio.Task[Any]] = field(default_factory=list, init=False)
    _servers: list[asyncio.AbstractServer] = field(default_factory=list, init=False)
    _peer_tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _peer_connections: set[PeerServerProtocol] = field(default_factory=set, init=False)
    _stop: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _loaded_cas: set[str] = field(default_factory=set, init=False)
    anchorer: Anchorer | None = field(default=None, init=False)
    notifier: TrackerNotifier | None = field(default=None, init=False)
    # Admission keys by the X-Road-Client text / the peer's certificate, per
    # configuration version (cleared by _watch_conf); bounded by MAX_KEYS.
    _client_keys: dict[str, str] = field(default_factory=dict, init=False)
    _peer_keys: dict[bytes, str] = field(default_factory=dict, init=False)
    _watched: dict[Any, WatchedProtocol] = field(default_factory=dict, init=False)
    _is_connections: set[WatchedProtocol] = field(default_factory=set, init=False)

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start everything; if any part fails, stop what did start and re-raise."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        s = self.settings
        try:
            anchor = parse_anchor(s.anchor_path.read_bytes())
        except OSError as e:
            raise ConfigurationError(f"cannot read the anchor {s.anchor_path}: {e.strerror}") from e
        confclient = self.confclient = ConfClient(anchor, s.conf_cache)
        confclient.load_cached()
        with contextlib.suppress(SildError):
            await confclient.refresh()  # a cached copy may carry us until the registry is up
        keys = SignKeys.load(s.sign_dir, passphrase=self.passphrase)
        self.ctx = GatewayContext(server=s.server, limits=s.limits, keys=keys,
                                  confclient=confclient, log=self.log_port, access=self.access,
                                  log_body=s.log_body, tracker=s.tracker)
        ca_pems = self._ca_pems()
        self._server_tls = server_context(s.auth_cert_path, s.auth_key_path,
                                          password=self.passphrase, ca_pems=ca_pems)
        self._client_tls = client_context(s.auth_cert_path, s.auth_key_path,
                                          password=self.passphrase, ca_pems=ca_pems)
        self._loaded_cas.update(ca_pems)
        if s.tracker.assertion_jwks:  # Sild-Subject-Assertion (docs/spec/tracker.md §1)
            self.ctx.assertion_keys = _load_jwks(s.root / s.tracker.assertion_jwks)
        if s.tracker.consent_url:  # locks are enforced (docs/spec/tracker.md §6)
            from sild.consent.client import ConsentClient

            headers = {"X-Road-Client": s.tracker.consent_client} if s.tracker.consent_client \
                else {}
            self.ctx.consent = ConsentClient(s.tracker.consent_url, headers=headers,
                                             cache_ttl=s.tracker.consent_cache)
        is_tls = None
        if s.is_tls:
            clients, is_pems = load_is_clients(s.is_clients_dir)
            self.ctx.is_clients = clients
            is_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            is_tls.minimum_version = ssl.TLSVersion.TLSv1_2
            is_tls.load_cert_chain(str(s.auth_cert_path), str(s.auth_key_path),
                                   password=self.passphrase)
            # Optional at the TLS layer so that a caller without a certificate gets an
            # X-Road error, not a broken handshake; required by the consumer check.
            is_tls.verify_mode = ssl.CERT_OPTIONAL
            trust_cas(is_tls, is_pems)
        # Each new peer connection is pinned to the certificate registered for its address.
        self.peer_pool = HttpPool(ssl_context=self._client_tls, check_peer=self._check_peer,
                                  limit_per_host=256, idle_timeout=60)
        self.peer_transport = LeanPeerTransport(self.peer_pool, s.limits.peer_timeout)
        self.consumer = consumer_pipeline(self.ctx, self.peer_transport)
        self.soap_consumer = soap_consumer_pipeline(self.ctx, self.peer_transport)
        self.is_transport = LeanIsTransport()
        self.provider = provider_pipeline(self.ctx, self.is_transport)
        self._admission()
        engine = make_engine(s.database_url)
        if engine.dialect.name == "postgresql":
            # other nodes may share this database: one replay window for all of them
            self._replay_engine = engine
            self.ctx.shared_replay = await asyncio.to_thread(SharedReplay.open, engine)
        else:
            engine.dispose()

        is_app = web.Application(client_max_size=s.limits.max_body + 1024,
                                 middlewares=[self._busy, self._measure("consumer")])
        add_is_routes(is_app, list_clients=self._list_clients,
                      wsdl=wsdl_handler(self.consumer.run, self.ctx.clock,
                                        lambda: s.server.owner),  # wsdl.md §6
                      **{name: consumer_handler(pipeline.run, self.ctx.clock,
                                                admit=self._admit_client,
                                                streak=self._refusal_streak,
                                                body_timeout=s.limits.body_timeout)
                         for name, pipeline in (("rest", self.consumer),
                                                ("soap", self.soap_consumer))})

        # Set-up that holds the event loop comes before listening: a process that joins a
        # shared port (SO_REUSEPORT) is handed connections from the moment it listens.
        if s.anchoring.enabled:  # docs/spec/anchoring.md §3–4
            self.anchorer = Anchorer.open(s.database_url, s.anchoring,
                                          standby=self.anchoring_standby)
            await self.anchorer.start()
            self.ctx.anchoring_check = self.anchorer.check_open
        await self._serve(is_app, s.is_listen, is_tls)
        await self._serve_peers(s.peer_listen)
        if self.admin_app_factory is not None:
            await self._serve_admin()
        keep_fresh = getattr(self.access, "keep_fresh", None)
        if keep_fresh is not None:  # the service configuration, refreshed off the loop
            self._tasks.append(asyncio.create_task(keep_fresh(self._stop)))
        self._tasks.append(asyncio.create_task(confclient.run(self._stop)))
        self._tasks.append(asyncio.create_task(self._watch_conf()))
        if s.tracker.notify:  # usage events to the notification service (notify.md §4)
            self.notifier = TrackerNotifier.for_gateway(s)
            await self.notifier.start()
            listen = getattr(self.log_port, "on_usage_committed", None)
            if listen is not None:  # woken by each commit with usage records
                self._unlisten = listen(self.notifier.wake)
        log.info("gateway_started", server=str(s.server), is_listen=s.is_listen,
                 peer_listen=s.peer_listen, admin_listen=s.admin_listen)

    def _admission(self) -> None:
        """One gate per side (docs/spec/exchange.md §8), its counters in /metrics."""
        a, m = self.settings.admission, self.metrics

        def gate(side: str, default: Quota, overrides: dict[str, Quota], what: str) -> Gate:
            counters = {r: m.refused.labels(side, r)
                        for r in ("concurrency", "rate", "overloaded")}
            g = Gate(max_in_flight=a.max_in_flight, default=default, overrides=overrides,
                     retry_after=a.retry_after, max_callers=a.max_callers, what=what,
                     on_refuse=lambda reason: counters[reason].inc())
            m.in_flight.labels(side).set_function(lambda: g.in_flight)
            return g

        self.client_gate = gate("consumer", a.client, dict(a.clients), "client")
        self.ctx.admit_client = self.client_gate.trade  # SOAP clients, once read
        self.peer_gate = gate("provider", a.peer, dict(a.peers), "peer gateway")
        self._is_deadlines = Deadlines(on_expire=m.slow_closed.labels("is").inc)
        self._peer_deadlines = Deadlines(on_expire=m.slow_closed.labels("peer").inc)

    def _admit_client(self, request: web.Request) -> Ticket:
        """Admission on the IS port, by the hosted client the request names (the last
        X-Road-Client, as the pipeline reads it); unknown or malformed: one shared key.
        A request admitted on its first chunk (EarlyAdmission) brings its ticket."""
        watched = self._watched.get(request.protocol)
        if watched is not None and watched.ticket is not None:
            ticket: Ticket = watched.take()
            return ticket
        values = request.headers.getall("X-Road-Client", ())
        return self._admit_client_text(values[-1] if values else "")

    def _admit_client_text(self, text: str) -> Ticket:
        key = self._client_keys.get(text)
        if key is None:
            key = SHARED  # unknown, malformed or absent (SOAP: traded once read): one key
            if text:
                with contextlib.suppress(SildError):
                    view = self.ctx.trust()
                    client = parse_client(text.strip())
                    if client in view.hosted_by(self.ctx.own_entry(view)):
                        key = str(client)
                        if len(self._client_keys) < MAX_KEYS:
                            self._client_keys[text] = key
        return self.client_gate.admit(key)

    def _admit_peer(self, der: bytes | None) -> Ticket:
        """Admission on the peer port, by the calling gateway's registered id (its
        certificate is checked again, fully, by stage (4a)); unknown: one shared key."""
        key = self._peer_keys.get(der) if der is not None else SHARED
        if key is None:
            assert der is not None
            key = SHARED
            with contextlib.suppress(SildError):
                key = str(self.ctx.trust().check_gateway_certificate(
                    der, at=self.ctx.clock()).id)
                if len(self._peer_keys) < MAX_KEYS:
                    self._peer_keys[der] = key
        return self.peer_gate.admit(key)

    def _refusal_streak(self, request: web.Request, refused: bool) -> int:
        watched = self._watched.get(request.protocol)
        if watched is None:
            return 1 if refused else 0
        watched.refusals = watched.refusals + 1 if refused else 0
        return watched.refusals

    @web.middleware
    async def _busy(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """The request head is in: no header deadline while the application has it."""
        watched = self._watched.get(request.protocol)
        if watched is None:
            response: web.StreamResponse = await handler(request)
            return response
        watched.busy(True)
        try:
            response = await handler(request)
            return response
        finally:
            watched.busy(False)

    def _check_peer(self, address: str, der: bytes) -> str | None:
        """None when ``der`` is the registered, approved, unrevoked certificate at ``address``."""
        try:
            view = self.ctx.trust()
            peer = view.check_gateway_certificate(der, at=self.ctx.clock())
        except SildError as e:
            return e.message
        if peer.address != address:
            return f"presented the certificate of {peer.id}, registered at {peer.address}"
        return None

    async def _renew_peer_session(self) -> None:
        """A new configuration may revoke or re-register peers: new connections from now
        on; pooled ones close, busy ones once their answer is in."""
        self.peer_pool.renew()

    def _ca_pems(self) -> list[str]:
        try:
            return [c.certificate_pem for c in self.confclient.current().conf.cas]
        except SildError:
            return []

    async def _watch_conf(self) -> None:
        """Trust newly approved CAs in TLS, renew the peer pool when the configuration
        changes, and publish the configuration's state."""
        seen_version: int | None = None
        while not self._stop.is_set():
            with contextlib.suppress(SildError):
                version = self.confclient.current().conf.version
                if seen_version is not None and version != seen_version:
                    self._renewals.append(asyncio.create_task(self._renew_peer_session()))
                    self._client_keys.clear()  # hosted clients and peers may change
                    self._peer_keys.clear()
                seen_version = version
            new = [p for p in self._ca_pems() if p not in self._loaded_cas]
            if new:
                trust_cas(self._server_tls, new)
                trust_cas(self._client_tls, new)
                self._loaded_cas.update(new)
            with contextlib.suppress(SildError):
                conf = self.confclient.current().conf
                self.metrics.conf_version.set(conf.version)
                self.metrics.conf_expires.set(conf.expires_at.timestamp())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 1.0)

    def _measure(self, side: str) -> Any:
        duration = self.metrics.duration.labels(side)
        ok, error = (self.metrics.requests.labels(side, o) for o in ("ok", "error"))

        @web.middleware
        async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
            start = time.perf_counter()
            response: web.StreamResponse = await handler(request)
            duration.observe(time.perf_counter() - start)
            (error if "X-Road-Error" in response.headers else ok).inc()
            return response

        return middleware

    async def _list_clients(self, request: web.Request) -> web.StreamResponse:
        accept = request.headers.get("Accept", "")
        try:
            conf = self.ctx.trust().conf
        except SildError as e:
            err = answer_for(e, component="ClientProxy", accept=accept)
            return to_response(Answer(err.status, err.headers(), err.body))
        ctype, body = list_clients(conf, accept=accept,
                                   wanted=request.query.get("xRoadInstance"))
        return to_response(Answer(200, (("Content-Type", ctype),), body))

    async def _serve(self, app: web.Application, listen: str, tls: Any) -> None:
        host, port = parse_listen(listen)
        # auto_decompress=False: a compressed request body travels untouched with its
        # Content-Encoding (issue 7 §2; checked by sild.gateway.exchange.http).
        # keepalive_timeout: aiohttp closes an idle kept-alive connection, or one whose
        # next request head is incomplete, after it; WatchedProtocol gives each request
        # head header_timeout (sild.web.deadlines).
        runner = web.AppRunner(app, access_log=None, handle_signals=False,
                               auto_decompress=False,
                               keepalive_timeout=self.settings.limits.keepalive_timeout)
        await runner.setup()
        handler_factory = runner.server
        assert handler_factory is not None
        deadlines, header_timeout = self._is_deadlines, self.settings.limits.header_timeout
        early = EarlyAdmission(self._admit_client_text)

        idle_timeout = self.settings.limits.keepalive_timeout

        def protocol() -> WatchedProtocol:
            return WatchedProtocol(handler_factory, deadlines, header_timeout=header_timeout,
                                   idle_timeout=idle_timeout, watched=self._watched,
                                   connections=self._is_connections, early=early)

        try:
            # A TLS handshake is part of the request head: header_timeout for it too.
            server = await create_server(
                protocol, host, port, ssl=tls, reuse_port=self.reuse_port,
                rate=self.settings.admission.accept_rate,
                burst=self.settings.admission.accept_burst,
                ssl_handshake_timeout=header_timeout if tls is not None else None)
        except OSError as e:
            await runner.cleanup()
            raise ConfigurationError(f"cannot listen on {listen}: {e.strerror}") from e
        self._servers.append(server)
        self._runners.append(runner)

    async def _serve_peers(self, listen: str) -> None:
        """The peer port: the lean httptools server (sild.gateway.exchange.lean_server)
        over mutual TLS, in front of the provider pipeline."""
        host, port = parse_listen(listen)
        clock, run = self.ctx.clock, self.provider.run
        duration = self.metrics.duration.labels("provider")
        ok, error = (self.metrics.requests.labels("provider", o) for o in ("ok", "error"))
        lim = self.settings.limits
        timeouts = Timeouts(lim.header_timeout, lim.body_timeout, lim.keepalive_timeout,
                            lim.peer_connection_lifetime)

        async def handle(incoming: Incoming) -> Answer:
            return await run(ProviderExchange(request_in=clock(), incoming=incoming))

        def measured(answer: Answer, seconds: float) -> None:
            duration.observe(seconds)
            failed = any(k.lower() == "x-road-error" for k, _ in answer.headers)
            (error if failed else ok).inc()

        def protocol() -> PeerServerProtocol:
            return PeerServerProtocol(handle, path=MESSAGE_PATH,
                                      max_body=self.settings.limits.max_body + FRAME_OVERHEAD,
                                      on_answer=measured, tasks=self._peer_tasks,
                                      connections=self._peer_connections,
                                      admit=self._admit_peer, deadlines=self._peer_deadlines,
                                      timeouts=timeouts)

        try:
            server = await create_server(protocol, host, port, ssl=self._server_tls,
                                         reuse_port=self.reuse_port,
                                         rate=self.settings.admission.accept_rate,
                                         burst=self.settings.admission.accept_burst,
                                         ssl_handshake_timeout=lim.header_timeout)
        except OSError as e:
            raise ConfigurationError(f"cannot listen on {listen}: {e.strerror}") from e
        self._servers.append(server)

    async def _serve_admin(self) -> None:
        assert self.admin_app_factory is not None
        host, port = parse_listen(self.settings.admin_listen)
        server, task = await start_embedded(self.admin_app_factory(self), host, port)
        self._admin_server = server
        self._tasks.append(task)

    async def stop(self) -> None:
        self._stop.set()
        for renewal in self._renewals:
            renewal.cancel()
        if self.notifier is not None:  # before the IS port closes under its last send
            unlisten = getattr(self, "_unlisten", None)
            if unlisten is not None:
                unlisten()
                self._unlisten = None
            await self.notifier.stop()
            self.notifier = None
        admin = getattr(self, "_admin_server", None)
        if admin is not None:
            admin.should_exit = True
        for server in self._servers:
            server.close()  # no new peer connections; requests in flight finish below
        for runner in self._runners:
            await runner.cleanup()
        for watched in list(self._is_connections):  # those aiohttp never had
            watched.expire()
        if self._peer_tasks:
            _, late = await asyncio.wait(set(self._peer_tasks), timeout=5)
            for task in late:
                task.cancel()
        for connection in list(self._peer_connections):  # kept-alive peers: closed now
            connection.close()
        self._servers.clear()
        for deadlines in (getattr(self, "_is_deadlines", None),
                          getattr(self, "_peer_deadlines", None)):
            if deadlines is not None:
                deadlines.close()
        if self.anchorer is not None:
            await self.anchorer.stop()
            self.anchorer = None
        for pool in (getattr(self, "peer_pool", None),
                     getattr(getattr(self, "is_transport", None), "pool", None)):
            if pool is not None:
                await pool.close()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 5)
        shared = getattr(getattr(self, "ctx", None), "shared_replay", None)
        if shared is not None:
            shared.close()
            self.ctx.shared_replay = None
        replay_engine = getattr(self, "_replay_engine", None)
        if replay_engine is not None:
            replay_engine.dispose()
        consent = getattr(getattr(self, "ctx", None), "consent", None)
        if consent is not None and hasattr(consent, "close"):
            await consent.close()
        self._runners.clear()
        self._tasks.clear()
