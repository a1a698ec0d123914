"""Notifications of data use (issue #8, docs/spec/notify.md): a person subscribes with a
webhook or an inbox; provider gateways send usage events through the exchange; the
service stores each event once and delivers it, signed, with retries."""

__all__: list[str] = []
