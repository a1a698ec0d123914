"""SOAP (X-Road message protocol 4.0)."""
