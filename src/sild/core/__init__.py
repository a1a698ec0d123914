"""Pure logic: no sockets, no database, no file or clock reads (STYLE.md rule 1)."""
