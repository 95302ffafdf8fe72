"""Editable reference data of the routing engine (lexicons, places) for importlib.resources."""
