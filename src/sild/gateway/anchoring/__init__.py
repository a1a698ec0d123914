"""Anchoring the message log in the ledger (anchorer) and auditing it against the
ledger's proofs (audit, audit_store). docs/spec/anchoring.md."""
