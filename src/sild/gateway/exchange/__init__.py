"""The exchange: a pure core (sild.core.exchange) and one pipeline of typed stages per
gateway side (ARCHITECTURE.md §4, docs/spec/exchange.md §7)."""

from sild.gateway.exchange.consumer import consumer_pipeline
from sild.gateway.exchange.pipeline import Pipeline, Stage
from sild.gateway.exchange.provider import provider_pipeline, provider_stages
from sild.gateway.exchange.record import (
    Answer,
    ConsumerExchange,
    Incoming,
    IsReply,
    ProviderExchange,
)

__all__ = ["Answer", "ConsumerExchange", "Incoming", "IsReply", "Pipeline", "ProviderExchange",
           "Stage", "consumer_pipeline", "provider_pipeline", "provider_stages"]
