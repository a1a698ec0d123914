"""What every Sild HTTP service shares: one error mapper, one web shell."""
