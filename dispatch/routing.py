"""Which unit handles a ticket: the routing catalogue (派单目录) and the suggestion for a text.

The catalogue maps a category to a lead unit by one of three modes (the taxonomy's):

* ``duty`` (职责): the category's city department, wherever it happened;
* ``territory`` (属地): the government of the county-level unit where it happened (GOV-<code>);
* ``urban`` (行业/属地): in urban units the named city department or utility, in the counties
  the county government.

A mode that needs a unit nobody knows yields no department: manual triage, never a guess.
Extra rules from config (a list of mappings) can narrow a category by keywords, ticket types or
divisions, add co-handlers or turn push-down off; the most specific matching rule wins and a
later rule wins a tie, so config overrides the defaults. Every decision records the catalogue's
version, which changes whenever the rules do.

``suggest`` is the whole pipeline for ``POST /api/v1/route/suggest``: understanding (kind, type,
category, emergency), gazetteer (division, street, other cities) and the catalogue.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import yaml

from dispatch.gazetteer import Gazetteer, Location
from dispatch.understanding import Kind, Lexicon, Understanding, normalize, understand
from hotline.domain.vocabulary import EmergencyService, RejectReason, TicketType

#: In ``co_handlers``: the government of the unit where it happened, when known.
TERRITORY = "TERRITORY"


class Mode(StrEnum):
    DUTY = "duty"
    TERRITORY = "territory"
    URBAN = "urban"


def government(division: str) -> str:
    """The department code of a division's government (seed: ``GOV-<division code>``)."""
    return f"GOV-{division}"


@dataclass(frozen=True)
class Rule:
    """One line of the catalogue. Empty conditions match anything; ``keywords`` match if any
    occurs in the text, ``divisions`` if the county or the street code is listed."""

    id: str
    category: str
    mode: Mode
    department: str | None = None
    keywords: tuple[str, ...] = ()
    types: tuple[TicketType, ...] = ()
    divisions: tuple[str, ...] = ()
    co_handlers: tuple[str, ...] = ()
    push_down: bool = True

    def __post_init__(self) -> None:
        if self.mode in (Mode.DUTY, Mode.URBAN) and not self.department:
            raise ValueError(f"rule {self.id}: mode {self.mode.value} needs a department")

    @property
    def specificity(self) -> int:
        return sum(bool(c) for c in (self.keywords, self.types, self.divisions))

    def matches(
        self,
        category: str,
        division: str | None,
        street: str | None,
        text: str,
        type_: TicketType | None,
    ) -> bool:
        """``text`` must be normalised (``understanding.normalize``)."""
        if category != self.category:
            return False
        if self.keywords and not any(normalize(k) in text for k in self.keywords):
            return False
        if self.types and type_ not in self.types:
            return False
        return not self.divisions or division in self.divisions or street in self.divisions

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, default_id: str) -> Rule:
        """A rule from config: ``{"category", "mode", "department"?, "keywords"?, "types"?,
        "divisions"?, "co_handlers"?, "push_down"?, "id"?}``; types may be Chinese names."""
        unknown = set(data) - {
            "id",
            "category",
            "mode",
            "department",
            "keywords",
            "types",
            "divisions",
            "co_handlers",
            "push_down",
        }
        if unknown:
            raise ValueError(f"rule {default_id}: unknown keys {sorted(unknown)}")

        def strings(key: str) -> tuple[str, ...]:
            value = data.get(key) or ()
            if isinstance(value, str):
                value = (value,)
            return tuple(str(v) for v in value)

        try:
            mode = Mode(str(data["mode"]))
            category = str(data["category"])
        except KeyError as missing:
            raise ValueError(f"rule {default_id}: {missing} is required") from None
        except ValueError:
            raise ValueError(f"rule {default_id}: unknown mode {data['mode']!r}") from None
        department = data.get("department")
        return cls(
            id=str(data.get("id") or default_id),
            category=category,
            mode=mode,
            department=str(department) if department else None,
            keywords=strings("keywords"),
            types=tuple(TicketType.parse(t) for t in strings("types")),
            divisions=strings("divisions"),
            co_handlers=strings("co_handlers"),
            push_down=bool(data.get("push_down", True)),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "category": self.category,
            "mode": self.mode.value,
            "department": self.department,
            "keywords": list(self.keywords),
            "types": [t.value for t in self.types],
            "divisions": list(self.divisions),
            "co_handlers": list(self.co_handlers),
            "push_down": self.push_down,
        }


def _digest(payload: Any) -> str:
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


@dataclass(frozen=True)
class Catalogue:
    """The routing catalogue: rules plus which county-level units are urban.

    ``counties`` lists the known county-level codes (empty: accept any); a division outside it
    yields no department rather than a government that does not exist.
    """

    version: str | int
    rules: tuple[Rule, ...]
    urban_divisions: frozenset[str]
    counties: frozenset[str] = frozenset()

    @classmethod
    def from_categories(
        cls,
        categories: Iterable[Mapping[str, Any]],
        *,
        urban_divisions: Iterable[str],
        counties: Iterable[str] = (),
        version: str | int | None = None,
    ) -> Catalogue:
        """The default rule of each category (taxonomy entries or database rows: ``code``,
        ``mode``, ``department`` or ``department_code``, ``push_down``)."""
        rules = tuple(
            Rule(
                id=f"default:{c['code']}",
                category=str(c["code"]),
                mode=Mode(str(c["mode"])),
                department=c.get("department") or c.get("department_code") or None,
                push_down=bool(c.get("push_down", True)),
            )
            for c in categories
        )
        urban = frozenset(urban_divisions)
        known = frozenset(counties)
        if version is None:
            version = "tax-" + _digest([[r.as_dict() for r in rules], sorted(urban), sorted(known)])
        return cls(version, rules, urban, known)

    @classmethod
    def from_taxonomy(
        cls,
        taxonomy: Mapping[str, Any],
        divisions: Mapping[str, Any],
        *,
        version: str | int | None = None,
    ) -> Catalogue:
        """From the structures of ``anyang-taxonomy.yaml`` and ``anyang-divisions.yaml``."""
        units = divisions["units"]
        return cls.from_categories(
            taxonomy["categories"],
            urban_divisions=[str(u["code"]) for u in units if u.get("urban")],
            counties=[str(u["code"]) for u in units],
            version=version,
        )

    @classmethod
    def default(cls) -> Catalogue:
        """Anyang's default catalogue from the packaged reference data (built once)."""
        return _default_catalogue()

    def with_rules(
        self, extra: Iterable[Mapping[str, Any] | Rule], *, version: str | int | None = None
    ) -> Catalogue:
        """This catalogue plus rules from config; they win over the defaults on a tie."""
        added = tuple(
            r if isinstance(r, Rule) else Rule.from_mapping(r, default_id=f"config:{i}")
            for i, r in enumerate(extra, start=1)
        )
        if version is None:
            version = f"{self.version}+{_digest([r.as_dict() for r in added])}"
        return replace(self, version=version, rules=self.rules + added)

    @property
    def categories(self) -> frozenset[str]:
        return frozenset(r.category for r in self.rules)

    def rule_for(
        self,
        category: str,
        division: str | None = None,
        street: str | None = None,
        *,
        text: str = "",
        type_: TicketType | None = None,
    ) -> Rule | None:
        """The most specific matching rule; among equals the one added last."""
        norm = normalize(text)
        best: tuple[int, int, Rule] | None = None
        for index, rule in enumerate(self.rules):
            if rule.matches(category, division, street, norm, type_):
                key = (rule.specificity, index, rule)
                if best is None or key[:2] > best[:2]:
                    best = key
        return best[2] if best is not None else None


@dataclass(frozen=True)
class Decision:
    """The lead unit (None: manual triage), co-handlers, and why.

    ``push_down_to`` names the street office or town government a county may re-dispatch to
    (分派) when the category allows it and the street is known.
    """

    department: str | None
    co_handlers: tuple[str, ...]
    rule: Rule | None
    catalogue_version: str | int
    confidence: float
    explanation: tuple[str, ...]
    push_down_to: str | None = None


def route(
    catalogue: Catalogue,
    category: str,
    division: str | None,
    street: str | None = None,
    *,
    text: str = "",
    type_: TicketType | None = None,
    division_confidence: float = 1.0,
) -> Decision:
    """The lead unit for a category at a place, by the catalogue's best rule.

    ``division_confidence`` (the gazetteer's) scales the decision's confidence when the mode
    used the division.
    """
    rule = catalogue.rule_for(category, division, street, text=text, type_=type_)
    version = catalogue.version
    if rule is None:
        return Decision(None, (), None, version, 0.0, (f"目录中无类别 {category} 的规则, 转人工",))
    why = [f"规则 {rule.id}: {category} → {rule.mode.value}"]
    place = division
    if place is not None and catalogue.counties and place not in catalogue.counties:
        why.append(f"区县代码 {place} 不在目录中")
        place = None

    department: str | None
    confidence = 1.0
    if rule.mode is Mode.DUTY:
        department = rule.department
        why.append(f"职责: 全市由 {department} 办理")
    elif place is None:
        department = None
        confidence = 0.0
        why.append(f"{rule.mode.value} 模式需要区县, 区县不明: 转人工分派")
    elif rule.mode is Mode.URBAN and place in catalogue.urban_divisions:
        department = rule.department
        confidence = division_confidence
        why.append(f"城区 {place}: 由行业单位 {department} 办理")
    else:
        department = government(place)
        confidence = division_confidence
        where = "县(市)" if rule.mode is Mode.URBAN else "属地"
        why.append(f"{where} {place}: 由 {department} 办理")

    co: list[str] = []
    for code in rule.co_handlers:
        if code == TERRITORY:
            if place is not None and government(place) != department:
                co.append(government(place))
        elif code != department:
            co.append(code)
    if co:
        why.append(f"协办: {'、'.join(co)}")

    push_down_to = None
    if (
        rule.push_down
        and place is not None
        and department == government(place)
        and street is not None
    ):
        push_down_to = government(street)
        why.append(f"可分派至 {push_down_to}")
    return Decision(
        department, tuple(dict.fromkeys(co)), rule, version, confidence, tuple(why), push_down_to
    )


@dataclass(frozen=True)
class Suggestion:
    """The answer of ``POST /api/v1/route/suggest``: the first eight fields are the contract
    (``to_json``); the rest is for the dispatch service and the agent's screen."""

    kind: Kind
    type: TicketType
    category: str | None
    division: str | None
    department: str | None
    emergency: EmergencyService | None
    confidence: float
    explanation: tuple[str, ...]
    street: str | None = None
    co_handlers: tuple[str, ...] = ()
    reject_reason: RejectReason | None = None
    decision: Decision | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "type": self.type.value,
            "category": self.category,
            "division": self.division,
            "department": self.department,
            "emergency": self.emergency.value if self.emergency is not None else None,
            "confidence": round(self.confidence, 2),
            "explanation": list(self.explanation),
        }


def locate_contact(
    gazetteer: Gazetteer,
    text: str,
    address: str | None = None,
    point: tuple[float, float] | None = None,
) -> Location:
    """The address decides when it names a unit; otherwise address and text are read together
    (城关镇 in the address, 汤阴县 in the text); a GPS point is the last resort."""
    if address:
        from_address = gazetteer.locate(address)
        both = gazetteer.locate(f"{address}。{text}")
        if from_address.division is not None:
            street = from_address.street
            if street is None and both.division == from_address.division:
                street = both.street  # 汤阴县 in the address, 城关镇 in the text
            return replace(
                from_address,
                street=street,
                evidence=tuple(f"地址: {e}" for e in from_address.evidence),
            )
        location = both
    else:
        location = gazetteer.locate(text)
    if location.division is None and not location.ambiguous and point is not None:
        guess = gazetteer.locate_point(*point)
        return replace(
            guess,
            evidence=location.evidence + guess.evidence,
            other_places=location.other_places,
            cross_region=location.cross_region,
        )
    return location


def suggest(
    text: str,
    address: str | None = None,
    *,
    gazetteer: Gazetteer,
    catalogue: Catalogue,
    lexicon: Lexicon | None = None,
    point: tuple[float, float] | None = None,
) -> Suggestion:
    """Kind, type, category, division and department for a citizen's text, with the reasons.

    Emergencies and out-of-scope matters get no department (they are transferred or declined);
    the division is still reported when the text names it.
    """
    understood: Understanding = understand(text, lexicon=lexicon)
    location = locate_contact(gazetteer, text, address, point)
    place_why = tuple(f"地点: {e}" for e in location.evidence)

    if understood.kind is not Kind.TICKET:
        return Suggestion(
            kind=understood.kind,
            type=understood.type,
            category=None,
            division=location.division,
            department=None,
            emergency=understood.emergency,
            confidence=understood.confidence,
            explanation=understood.explanation + place_why,
            street=location.street,
            reject_reason=understood.reject_reason,
        )
    if location.outside_city:
        return Suggestion(
            kind=Kind.OUT_OF_SCOPE,
            type=understood.type,
            category=None,
            division=None,
            department=None,
            emergency=None,
            confidence=0.85,
            explanation=(
                f"不予受理 (outside_city): 事发地在 {'、'.join(location.other_places)}, "
                "非安阳市 (条例第四十九条第三项)",
                *understood.explanation[-1:],
                *place_why,
            ),
            reject_reason=RejectReason.OUTSIDE_CITY,
        )
    if understood.category is None:
        return Suggestion(
            kind=Kind.TICKET,
            type=understood.type,
            category=None,
            division=location.division,
            department=None,
            emergency=None,
            confidence=understood.confidence,
            explanation=understood.explanation + place_why,
            street=location.street,
        )
    decision = route(
        catalogue,
        understood.category,
        location.division,
        location.street,
        text=text,
        type_=understood.type,
        division_confidence=location.confidence,
    )
    confidence = understood.confidence * (decision.confidence if decision.department else 0.5)
    return Suggestion(
        kind=Kind.TICKET,
        type=understood.type,
        category=understood.category,
        division=location.division,
        department=decision.department,
        emergency=None,
        confidence=round(confidence, 2),
        explanation=understood.explanation
        + place_why
        + tuple(f"派单: {e}" for e in decision.explanation)
        + (f"目录版本 {decision.catalogue_version}",),
        street=location.street,
        co_handlers=decision.co_handlers,
        decision=decision,
    )


def _read_yaml(package: str, name: str) -> dict[str, Any]:
    text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{package}/{name}: expected a mapping")
    return data


@cache
def _default_catalogue() -> Catalogue:
    return Catalogue.from_taxonomy(
        _read_yaml("hotline.data", "anyang-taxonomy.yaml"),
        _read_yaml("hotline.data", "anyang-divisions.yaml"),
    )
