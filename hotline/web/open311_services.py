"""Our categories (诉求分类) as Open311 services, and the two attributes every service takes.

A service is a category: its code, its Chinese name, a group (the unit that usually handles
it, so a client's menu reads like the city's own catalogue), keywords from the name, and
``metadata`` true because every service asks the same two optional questions: the kind of
request (诉求类型, so an agent need not guess it) and the county-level unit where it happened
(所在县区, which territorial and urban routing need). 举报 is not offered: a report names
someone, and a public platform is no place for it (it is never listed either).
"""

from __future__ import annotations

import re
from typing import Any

from hotline.domain.vocabulary import TicketType
from hotline.services.reference import CategoryRef, ReferenceData

#: who handles a territorial category, and the counties' share of an urban one
_LOCAL_GOVERNMENT = "县（市、区）人民政府"

#: 诉求类型 offered to clients (举报 never: see the module's docstring)
OFFERED_TYPES = tuple(t for t in TicketType if t is not TicketType.REPORT)

TYPE_ATTRIBUTE = "type"
DIVISION_ATTRIBUTE = "division"

_SPLIT = re.compile(r"[()（）/、,，;；]")


def keywords(name: str) -> str:
    """``供气(停气/燃气费/开户,非泄漏)`` → ``供气, 停气, 燃气费, 开户``: the words a citizen might
    search for; exclusions (``非…``) are not keywords."""
    words = [w.strip() for w in _SPLIT.split(name)]
    return ", ".join(w for w in words if w and not w.startswith("非"))


def _unit_name(ref: ReferenceData, code: str | None) -> str | None:
    unit = ref.departments.get(code) if code else None
    return unit.name if unit else None


def group(ref: ReferenceData, category: CategoryRef) -> str:
    if category.mode == "territory":
        return _LOCAL_GOVERNMENT
    return _unit_name(ref, category.department_code) or _LOCAL_GOVERNMENT


def _description(ref: ReferenceData, category: CategoryRef) -> str:
    unit = _unit_name(ref, category.department_code)
    if category.mode == "territory" or unit is None:
        return f"{category.name}。由事发地{_LOCAL_GOVERNMENT}（管委会）办理。"
    if category.mode == "urban":
        return f"{category.name}。市区由{unit}办理，各县（市）由当地政府办理。"
    return f"{category.name}。由{unit}办理。"


def service(ref: ReferenceData, category: CategoryRef) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": _description(ref, category),
        "metadata": True,
        "type": "realtime",
        "keywords": keywords(category.name),
        "group": group(ref, category),
    }


def services(ref: ReferenceData) -> list[dict[str, Any]]:
    return [service(ref, ref.categories[code]) for code in sorted(ref.categories)]


def counties(ref: ReferenceData) -> list[tuple[str, str]]:
    return sorted((d.code, d.name) for d in ref.divisions.values() if d.level == "county")


def definition(ref: ReferenceData, code: str) -> dict[str, Any]:
    return {
        "service_code": code,
        "attributes": [
            {
                "variable": True,
                "code": TYPE_ATTRIBUTE,
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": "不填时由热线中心判断",
                "order": 1,
                "description": "诉求类型",
                "values": [{"key": t.name.lower(), "name": t.value} for t in OFFERED_TYPES],
            },
            {
                "variable": True,
                "code": DIVISION_ATTRIBUTE,
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": "属地派单需要；不填时由热线中心根据地址判断",
                "order": 2,
                "description": "事发地所在县（市、区）",
                "values": [{"key": c, "name": n} for c, n in counties(ref)],
            },
        ],
    }


def parse_type(value: str) -> TicketType | None:
    """A key (``complaint``) or a name (``投诉``) of an offered type; None if not offered."""
    for t in OFFERED_TYPES:
        if value in (t.value, t.name.lower()):
            return t
    return None


def parse_division(ref: ReferenceData, value: str) -> str | None:
    """A county's code (``410503``) or its name (``北关区``); None if not one of ours."""
    for code, name in counties(ref):
        if value in (code, name):
            return code
    return None
