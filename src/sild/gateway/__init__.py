"""The gateway (X-Road security server): IS-facing proxy, inter-gateway mutual TLS,
signatures, access rights, message log, metaservices, operational monitoring."""
