"""Public test kit: in-memory doubles and fixtures for Sild's I/O interfaces (STYLE.md rule 5)."""
