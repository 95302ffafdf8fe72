"""HTTP entry points: the aiohttp app factory, middlewares, the JSON API and pages."""
