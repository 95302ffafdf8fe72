"""Where did it happen? Anyang's county-level units and streets found in free text.

属地 routing needs the county-level unit (区县) of a matter and, for pushing it down, the street
or town. Citizens write full names (文峰区), short names (文峰, 高新区), or only a street or town
(东关街道, 吕村镇). Some names are shared by two units (城关镇 in 汤阴县 and 内黄县; 水冶镇 in
安阳县 and 水冶街道 in 殷都区): such a name decides only together with its unit's own name,
otherwise the location is ambiguous and the ticket goes to manual triage. Roads are never taken
as evidence (中华路, 文峰大道 cross several units), and a name followed by a road suffix is a road.

The gazetteer also notices other cities (郑州, 新乡, ...) so that matters outside 安阳市 can be
declined, and can guess a unit from a GPS point by nearest approximate centroid.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import yaml

from dispatch.understanding import Hit, TermScanner, normalize
from hotline.domain.places import street_code

#: Suffixes of street-level names, longest first; a name minus them is its stem (水冶).
STREET_SUFFIXES = ("街道办事处", "街道办", "办事处", "街道", "镇", "乡")
DIRECTIONS = "东西南北中"
#: After a name these are ordinary words, not a road of that name (林州路边, 示范区路灯).
NOT_ROADS = ("路灯", "路边", "路面", "路段", "路况", "路政", "路费", "路线", "路人", "街道")
#: A name with one of these endings is a unit, never the first half of a road's name.
UNIT_ENDINGS = ("区", "县", "市", "镇", "乡")

#: Confidence of a division found by each kind of evidence.
BY_UNIT_NAME = 0.95
BY_STREET = 0.9
CONFLICTING = 0.6
BY_POINT = 0.3


@dataclass(frozen=True)
class Street:
    """A street office (街道) or town (镇/乡); ``code`` is the database code."""

    code: str
    name: str
    division: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unit:
    """A county-level unit (区/县/市, or a zone) that has a government to route to."""

    code: str
    name: str
    aliases: tuple[str, ...] = ()
    urban: bool = False
    streets: tuple[Street, ...] = ()


@dataclass(frozen=True)
class Places:
    """What the gazetteer needs besides the divisions (``dispatch/data/places.yaml``)."""

    other_places: tuple[str, ...] = ()
    not_places: tuple[str, ...] = ()
    cross_region_cues: tuple[str, ...] = ()
    city_names: tuple[str, ...] = ()
    road_suffixes: tuple[str, ...] = ("大道", "大街", "路", "街")
    centroids: tuple[tuple[str, float, float], ...] = ()
    max_centroid_km: float = 45.0

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Places:
        def words(key: str) -> tuple[str, ...]:
            return tuple(str(w) for w in data.get(key) or ())

        return cls(
            other_places=words("other_cities") + words("other_provinces"),
            not_places=words("not_places"),
            cross_region_cues=words("cross_region_cues"),
            city_names=words("city_names"),
            road_suffixes=words("road_suffixes") or cls.road_suffixes,
            centroids=tuple(
                (str(code), float(lat), float(lng))
                for code, (lat, lng) in (data.get("centroids") or {}).items()
            ),
            max_centroid_km=float(data.get("max_centroid_km", cls.max_centroid_km)),
        )

    @classmethod
    def packaged(cls) -> Places:
        return _packaged_places()


@dataclass(frozen=True)
class Location:
    """Where a text places its matter.

    ``division`` is None when no unit is named or the text is ambiguous; ``candidates`` then
    lists the units it could mean. ``other_places`` are cities outside Anyang that the text
    names; ``cross_region`` are cues that the matter is still Anyang's (异地就医).
    """

    division: str | None = None
    street: str | None = None
    confidence: float = 0.0
    evidence: tuple[str, ...] = ()
    candidates: tuple[str, ...] = ()
    other_places: tuple[str, ...] = ()
    cross_region: tuple[str, ...] = ()

    @property
    def ambiguous(self) -> bool:
        return self.division is None and len(self.candidates) > 1

    @property
    def outside_city(self) -> bool:
        """Another city is named, no Anyang unit is, and nothing ties the matter to Anyang."""
        return bool(self.other_places) and self.division is None and not self.cross_region


class _Kind(StrEnum):
    UNIT = "unit"
    STREET = "street"
    OTHER = "other"
    CITY = "city"
    CUE = "cue"
    BLOCKER = "blocker"


@dataclass(frozen=True)
class _Name:
    kind: _Kind
    #: (division, street code or None) pairs the name may mean; several for a shared name
    targets: tuple[tuple[str, str | None], ...] = ()
    #: the name as the reference data spells it
    label: str = ""


def street_stem(name: str) -> str:
    """水冶街道 → 水冶, 道口镇街道 → 道口: the part citizens share across units."""
    stem = name
    changed = True
    while changed:
        changed = False
        for suffix in STREET_SUFFIXES:
            if stem.endswith(suffix) and len(stem) > len(suffix) + 1:
                stem = stem[: -len(suffix)]
                changed = True
                break
    return stem


def street_variants(street: Street) -> tuple[str, ...]:
    """Ways citizens write a street's name: as listed, X办事处/X街道办 for X街道, and the town
    name of a town turned street office (道口镇 for 道口镇街道)."""
    variants = [street.name, *street.aliases]
    if street.name.endswith("街道"):
        core = street.name.removesuffix("街道")
        variants += [core + "街道办", core + "办事处"]
        if core.endswith(("镇", "乡")) and len(core) > 2:
            variants.append(core)
    return tuple(dict.fromkeys(variants))


class Gazetteer:
    """County-level units and streets of one city, searchable in free text.

    Immutable once built; build it from the packaged YAML (``packaged``), from the YAML's
    structure (``from_divisions``) or from database rows (``from_rows``).
    """

    __slots__ = ("_centroids", "_places", "_scanner", "_units")

    def __init__(self, units: Sequence[Unit], places: Places | None = None) -> None:
        self._places = places if places is not None else Places.packaged()
        self._units = {u.code: u for u in units}
        self._centroids = tuple(c for c in self._places.centroids if c[0] in self._units)
        names: dict[str, _Name] = {}
        for word in self._places.not_places:
            names[word] = _Name(_Kind.BLOCKER)
        for word in self._places.cross_region_cues:
            names[word] = _Name(_Kind.CUE, label=word)
        for word in self._places.city_names:
            names[word] = _Name(_Kind.CITY, label=word)
        for word in self._places.other_places:
            names[word] = _Name(_Kind.OTHER, label=word)
        # Streets: every variant of every street with the same stem means all of them.
        by_stem: dict[str, list[Street]] = {}
        for unit in units:
            for street in unit.streets:
                by_stem.setdefault(street_stem(street.name), []).append(street)
        for streets in by_stem.values():
            targets = tuple((s.division, s.code) for s in streets)
            for street in streets:
                for variant in street_variants(street):
                    names[variant] = _Name(_Kind.STREET, targets, street.name)
        for unit in units:
            for alias in unit.aliases:
                names[alias] = _Name(_Kind.UNIT, ((unit.code, None),), unit.name)
            names[unit.name] = _Name(_Kind.UNIT, ((unit.code, None),), unit.name)
        self._scanner = TermScanner(names)

    @classmethod
    def packaged(cls) -> Gazetteer:
        """Anyang from the packaged ``hotline/data/anyang-divisions.yaml`` (built once)."""
        return _packaged_gazetteer()

    @classmethod
    def from_divisions(cls, data: Mapping[str, Any], places: Places | None = None) -> Gazetteer:
        """From the structure of ``anyang-divisions.yaml`` (``units`` with ``streets``).

        Street codes come from ``hotline.domain.places.street_code``, as in the database.
        """
        units = []
        for raw in data["units"]:
            code = str(raw["code"])
            streets = []
            for item in raw.get("streets") or ():
                if isinstance(item, Mapping):
                    name = str(item["name"])
                    given = item.get("code")
                    aliases = tuple(str(a) for a in item.get("aliases") or ())
                else:
                    name, given, aliases = str(item), None, ()
                streets.append(
                    Street(str(given) if given else street_code(code, name), name, code, aliases)
                )
            units.append(
                Unit(
                    code=code,
                    name=str(raw["name"]),
                    aliases=tuple(str(a) for a in raw.get("aliases") or ()),
                    urban=bool(raw.get("urban", False)),
                    streets=tuple(streets),
                )
            )
        return cls(units, places)

    @classmethod
    def from_rows(
        cls, rows: Iterable[Mapping[str, Any]], places: Places | None = None
    ) -> Gazetteer:
        """From division rows as the database holds them (``hotline.services.seed``):
        code, name, level ("county" | "street"), parent_code, urban, aliases."""
        rows = list(rows)
        streets: dict[str, list[Street]] = {}
        for row in rows:
            if row["level"] == "street":
                parent = str(row["parent_code"])
                streets.setdefault(parent, []).append(
                    Street(
                        str(row["code"]),
                        str(row["name"]),
                        parent,
                        tuple(str(a) for a in row.get("aliases") or ()),
                    )
                )
        units = [
            Unit(
                code=str(row["code"]),
                name=str(row["name"]),
                aliases=tuple(str(a) for a in row.get("aliases") or ()),
                urban=bool(row.get("urban", False)),
                streets=tuple(streets.get(str(row["code"]), ())),
            )
            for row in rows
            if row["level"] == "county"
        ]
        return cls(units, places)

    @property
    def units(self) -> tuple[Unit, ...]:
        return tuple(self._units.values())

    def unit(self, code: str) -> Unit | None:
        return self._units.get(code)

    def is_urban(self, code: str) -> bool:
        unit = self._units.get(code)
        return unit is not None and unit.urban

    def locate(self, text: str) -> Location:
        """The unit (and street) a text names, with the evidence; see the module docstring."""
        norm = normalize(text)
        hits = self._scanner.scan(norm)
        evidence: list[str] = []
        named: dict[str, list[str]] = {}  # unit code -> names of it in the text
        streets: list[Hit[_Name]] = []
        others: list[str] = []
        cues: list[str] = []
        city: list[str] = []
        previous: Hit[_Name] | None = None
        for hit in hits:
            name = hit.payload
            if name.kind in (_Kind.UNIT, _Kind.OTHER) and self._is_road(norm, hit):
                evidence.append(f"{hit.term}… 是道路名, 不作区县依据")
            elif name.kind is _Kind.UNIT and self._after_other_city(norm, previous, hit):
                evidence.append(f"{hit.term} 属于 {previous.term if previous else ''}, 非安阳")
            elif name.kind is _Kind.UNIT:
                named.setdefault(name.targets[0][0], []).append(hit.term)
            elif name.kind is _Kind.STREET:
                streets.append(hit)
            elif name.kind is _Kind.OTHER:
                others.append(hit.term)
            elif name.kind is _Kind.CUE:
                cues.append(hit.term)
            elif name.kind is _Kind.CITY:
                city.append(hit.term)
            previous = hit
        other_places = tuple(dict.fromkeys(others))
        cross_region = tuple(dict.fromkeys(cues))
        if other_places:
            evidence.append(f"提到外地: {'、'.join(other_places)}")
        if cross_region:
            evidence.append(f"异地办理线索: {'、'.join(cross_region)}")
        if city:
            evidence.append(f"提到本市: {'、'.join(dict.fromkeys(city))} (不指明区县)")

        # Each named unit counts 2; each street counts 1 for every unit it may belong to.
        score: Counter[str] = Counter({code: 2 for code in named})
        certain: set[str] = set(named)  # units with evidence of their own (not a shared name)
        for hit in streets:
            divisions = {d for d, _ in hit.payload.targets}
            for division in divisions:
                score[division] += 1
            if len(divisions) == 1:
                certain |= divisions
        if not score:
            return Location(
                evidence=(*evidence, "未找到安阳市的区县或街道/乡镇名"),
                other_places=other_places,
                cross_region=cross_region,
            )
        top = max(score.values())
        best = sorted(code for code, s in score.items() if s == top)
        if len(best) > 1:
            labels = "、".join(f"{self._units[c].name}({c})" for c in best)
            words = [t for c in best for t in named.get(c, ())] + [h.term for h in streets]
            shared = [h.term for h in streets if len({d for d, _ in h.payload.targets}) > 1]
            why = (
                f"{'、'.join(dict.fromkeys(shared))} 为多个区县共有的地名"
                if shared and not named
                else f"{'、'.join(dict.fromkeys(words))} 指向不同区县"
            )
            return Location(
                confidence=0.0,
                evidence=(*evidence, f"无法确定区县: {why} ({labels}), 转人工"),
                candidates=tuple(best),
                other_places=other_places,
                cross_region=cross_region,
            )

        division = best[0]
        unit = self._units[division]
        street = next(
            (s for h in streets for d, s in h.payload.targets if d == division and s is not None),
            None,
        )
        street_words = [h.term for h in streets if division in {d for d, _ in h.payload.targets}]
        if division in named:
            evidence.append(f"区县名: {'、'.join(dict.fromkeys(named[division]))} → {division}")
            confidence = BY_UNIT_NAME
        else:
            confidence = BY_STREET
        if street_words:
            evidence.append(f"街道/乡镇: {'、'.join(dict.fromkeys(street_words))} → {unit.name}")
        conflicting = sorted(certain - {division})
        if conflicting:
            confidence = CONFLICTING
            evidence.append(f"文中也提到其他区县 ({'、'.join(conflicting)}), 取证据最多者")
        return Location(
            division=division,
            street=street,
            confidence=confidence,
            evidence=tuple(evidence),
            other_places=other_places,
            cross_region=cross_region,
        )

    def locate_point(self, lat: float, lng: float) -> Location:
        """The unit with the nearest approximate centroid: a coarse guess, low confidence."""
        if not self._centroids:
            return Location(evidence=("无区县中心点数据",))
        dist, code = min(
            (_haversine_km(lat, lng, c_lat, c_lng), code) for code, c_lat, c_lng in self._centroids
        )
        if dist > self._places.max_centroid_km:
            return Location(evidence=(f"坐标距最近的区县中心 {dist:.0f} km, 可能不在安阳市",))
        return Location(
            division=code,
            confidence=BY_POINT,
            evidence=(f"坐标最近的区县中心: {self._units[code].name} ({dist:.1f} km, 近似)",),
        )

    def _is_road(self, text: str, hit: Hit[_Name]) -> bool:
        """文峰大道, 中州路, 北京东路: a bare name followed by a road suffix names a road."""
        if hit.term.endswith(UNIT_ENDINGS):
            return False
        rest = text[hit.end :]
        if rest[:1] and rest[0] in DIRECTIONS:
            rest = rest[1:]
        return rest.startswith(self._places.road_suffixes) and not rest.startswith(NOT_ROADS)

    @staticmethod
    def _after_other_city(text: str, previous: Hit[_Name] | None, hit: Hit[_Name]) -> bool:
        """郑州高新区, 新乡市高新区: a zone's short name right after another city is theirs."""
        return (
            previous is not None
            and previous.payload.kind is _Kind.OTHER
            and text[previous.end : hit.start] in ("", "市")
        )


def _haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def _read_yaml(package: str, name: str) -> dict[str, Any]:
    text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{package}/{name}: expected a mapping")
    return data


@cache
def _packaged_places() -> Places:
    return Places.from_mapping(_read_yaml("dispatch.data", "places.yaml"))


@cache
def _packaged_gazetteer() -> Gazetteer:
    return Gazetteer.from_divisions(_read_yaml("hotline.data", "anyang-divisions.yaml"))
