"""Use cases. Each service function owns its transaction; handlers and CLI call them."""
