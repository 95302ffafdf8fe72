"""Codes of places below the county level."""

from __future__ import annotations


def street_code(county_code: str, name: str) -> str:
    """Streets and towns have no code in the reference data: ``<county>-<name>`` is stable.

    Real GB/T 2260 township codes (9 digits) can be given in the divisions data instead.
    """
    return f"{county_code}-{name}"
