"""Prometheus metrics of one gateway process (served at ``/metrics`` on the admin port)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["GatewayMetrics"]


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sild_gateway_requests_total", "Requests handled, by side and outcome",
            ["side", "outcome"], registry=self.registry)
        self.duration = Histogram(
            "sild_gateway_request_seconds", "Time from request in to response out",
            ["side"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))
        # Admission (sild.gateway.admission) and slow connections (sild.web.deadlines).
        self.refused = Counter(
            "sild_gateway_admission_refused_total",
            "Requests refused before the pipeline, by side and reason "
            "(concurrency, rate: 429; overloaded: 503)",
            ["side", "reason"], registry=self.registry)
        self.in_flight = Gauge(
            "sild_gateway_in_flight_requests", "Admitted requests not yet answered, by side",
            ["side"], registry=self.registry)
        self.slow_closed = Counter(
            "sild_gateway_slow_connections_closed_total",
            "Connections closed for a request head or body slower than its timeout, by port",
            ["port"], registry=self.registry)
        self.conf_version = Gauge(
            "sild_gateway_globalconf_version", "Version of the global configuration in use",
            registry=self.registry)
        self.conf_expires = Gauge(
            "sild_gateway_globalconf_expires_timestamp_seconds",
            "When the global configuration in use expires (Unix time)", registry=self.registry)
