"""The JSON API under ``/api/v1`` (CONTRACT.md; documented in ``web/openapi.yaml``)."""
