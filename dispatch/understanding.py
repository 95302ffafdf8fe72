"""Reading a citizen's words: ticket, emergency or out of scope; the type; the category.

Rules, not a model: curated lexicons (``dispatch/data/lexicon.yaml``) read with a longest-match
scan, so the hotline centre can see and edit why a text lands where it does, and every decision
carries the cues that made it. jieba is not used: a scan over the lexicon's own vocabulary finds
the words that matter without a general-purpose segmenter, is deterministic, needs no dictionary
load (about a second) nor the cache file jieba writes to the temp directory, and runs in well
under a millisecond per text.

Emergencies come first and err on the side of flagging (条例第四十六条: an emergency is
transferred, never dispatched); out-of-scope matters (条例第四十九条第三项) next; everything
else is a ticket.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any, Generic, TypeVar

import yaml

from hotline.domain.vocabulary import EmergencyService, RejectReason, TicketType

T = TypeVar("T")

#: Characters that end a clause: a negation ("万一") only reaches the end of its clause.
CLAUSE_ENDS = frozenset("，,。.！!？?；;\n")
#: Characters that end a sentence: a "now" marker ("快来人") covers its whole sentence.
SENTENCE_ENDS = frozenset("。.！!？?；;\n")


def normalize(text: str) -> str:
    """NFKC and lower case, so full-width letters and digits (ＩＣ卡, ＫＴＶ) match the lexicon."""
    return unicodedata.normalize("NFKC", text).lower()


@dataclass(frozen=True)
class Hit(Generic[T]):
    start: int
    end: int
    term: str
    payload: T


class TermScanner(Generic[T]):
    """Leftmost-longest dictionary scan: at each position the longest known term wins.

    This is what makes "燃气费" one hit rather than also "气费", and lets a neutral phrase
    ("物业说") hide the word inside it. Texts are normalised by the caller.
    """

    __slots__ = ("_lengths", "_terms")

    def __init__(self, terms: Mapping[str, T]) -> None:
        self._terms: dict[str, T] = {normalize(k): v for k, v in terms.items() if k}
        # the lengths of the terms that start with each character, longest first
        lengths: dict[str, set[int]] = defaultdict(set)
        for term in self._terms:
            lengths[term[0]].add(len(term))
        self._lengths = {c: tuple(sorted(ls, reverse=True)) for c, ls in lengths.items()}

    def find_all(self, text: str) -> list[Hit[T]]:
        """Every occurrence of every term, overlaps included (for recall-first searches)."""
        hits: list[Hit[T]] = []
        terms = self._terms
        n = len(text)
        for i, char in enumerate(text):
            for length in self._lengths.get(char, ()):
                word = text[i : i + length]
                if i + length <= n and word in terms:
                    hits.append(Hit(i, i + length, word, terms[word]))
        return hits

    def scan(self, text: str) -> list[Hit[T]]:
        hits: list[Hit[T]] = []
        terms = self._terms
        n = len(text)
        i = 0
        while i < n:
            for length in self._lengths.get(text[i], ()):
                word = text[i : i + length]
                if i + length <= n and word in terms:
                    hits.append(Hit(i, i + length, word, terms[word]))
                    i += length
                    break
            else:
                i += 1
        return hits


def span_at(text: str, start: int, end: int, ends: frozenset[str] = CLAUSE_ENDS) -> tuple[int, int]:
    """The clause (or with ``SENTENCE_ENDS`` the sentence) around ``text[start:end]``."""
    left = start
    while left > 0 and text[left - 1] not in ends:
        left -= 1
    right = end
    while right < len(text) and text[right] not in ends:
        right += 1
    return left, right


class Kind(StrEnum):
    """What the hotline does with a contact: dispatch it, transfer it, or decline it."""

    TICKET = "ticket"
    EMERGENCY = "emergency"
    OUT_OF_SCOPE = "out_of_scope"


@dataclass(frozen=True)
class Understanding:
    """The reading of one text. ``category`` is None for emergencies and out-of-scope matters
    (nothing is dispatched) and when no category scored enough (manual triage); ``alternatives``
    keeps the best-scoring categories for the agent either way."""

    kind: Kind
    type: TicketType
    category: str | None
    emergency: EmergencyService | None
    confidence: float
    explanation: tuple[str, ...]
    reject_reason: RejectReason | None = None
    alternatives: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class _Cue:
    """An emergency cue: ``strong`` fires alone; a weak one needs a "now" marker or a text that
    is not recognisably a ticket (see ``Lexicon.find_emergency``)."""

    service: EmergencyService
    strong: bool


@dataclass(frozen=True)
class EmergencyFinding:
    """The service to transfer to, the cues that fired, and the cues negated (for the agent)."""

    service: EmergencyService
    cues: tuple[str, ...]
    strong: bool
    cancelled: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scores:
    """Scores of categories or types with the terms that made them, best first."""

    ranked: tuple[tuple[str, float], ...]
    evidence: Mapping[str, tuple[str, ...]]

    @property
    def best(self) -> tuple[str, float] | None:
        return self.ranked[0] if self.ranked else None


def _weights(data: Any, where: str) -> dict[str, float]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValueError(f"lexicon {where}: expected a mapping of term to weight")
    return {normalize(str(k)): float(v) for k, v in data.items()}


def _words(data: Any, where: str) -> tuple[str, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise ValueError(f"lexicon {where}: expected a list")
    return tuple(normalize(str(w)) for w in data)


class Lexicon:
    """The compiled lexicons: category, type, emergency and out-of-scope vocabularies.

    Built from the YAML mapping of ``dispatch/data/lexicon.yaml`` (or the same structure from
    config); immutable once built, so one instance can serve every request.
    """

    __slots__ = (
        "_after_negators",
        "_category_bonus",
        "_category_defaults",
        "_category_patterns",
        "_category_scan",
        "_default_type",
        "_emergency_patterns",
        "_emergency_scan",
        "_negators",
        "_now_markers",
        "_oos_scan",
        "_priority",
        "_ticket_evidence",
        "_type_patterns",
        "_type_prior",
        "_type_scan",
        "categories",
        "min_score",
    )

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.min_score = float(data.get("min_score", 2))
        categories: dict[str, list[tuple[str, float]]] = defaultdict(list)
        patterns: list[tuple[str, re.Pattern[str], float]] = []
        for word in _words(data.get("neutral"), "neutral"):
            categories.setdefault(word, [])
        cats = data.get("categories") or {}
        for code, spec in cats.items():
            for term, weight in _weights(spec.get("terms"), f"categories.{code}.terms").items():
                categories[term].append((str(code), weight))
            for pattern, weight in (spec.get("patterns") or {}).items():
                patterns.append((str(code), re.compile(str(pattern)), float(weight)))
        self.categories: tuple[str, ...] = tuple(str(c) for c in cats)
        self._category_scan = TermScanner({k: tuple(v) for k, v in categories.items()})
        self._category_patterns = tuple(patterns)

        types = data.get("types") or {}
        self._default_type = TicketType.parse(str(types.get("default", "投诉")))
        self._type_prior = float(types.get("prior", 0.5))
        self._category_bonus = float(types.get("category_bonus", 2.5))
        self._category_defaults = {
            str(c): TicketType.parse(str(t))
            for c, t in (types.get("category_defaults") or {}).items()
        }
        type_terms: dict[str, list[tuple[TicketType, float]]] = defaultdict(list)
        for name, type_cues in (types.get("cues") or {}).items():
            type_ = TicketType.parse(str(name))
            for term, weight in _weights(type_cues, f"types.cues.{name}").items():
                type_terms[term].append((type_, weight))
        self._type_scan = TermScanner({k: tuple(v) for k, v in type_terms.items()})
        self._type_patterns = tuple(
            (TicketType.parse(str(name)), re.compile(str(p)), float(w))
            for name, ps in (types.get("patterns") or {}).items()
            for p, w in (ps or {}).items()
        )

        emergency = data.get("emergency") or {}
        cues: dict[str, _Cue | None] = {}
        for word in _words(emergency.get("blockers"), "emergency.blockers"):
            cues[word] = None
        services = emergency.get("services") or {}
        for code, spec in services.items():
            service = EmergencyService(str(code))
            for word in _words(spec.get("weak"), f"emergency.{code}.weak"):
                cues.setdefault(word, _Cue(service, strong=False))
            for word in _words(spec.get("strong"), f"emergency.{code}.strong"):
                cues.setdefault(word, _Cue(service, strong=True))
        self._emergency_scan: TermScanner[_Cue | None] = TermScanner(cues)
        self._emergency_patterns = tuple(
            (re.compile(str(p)), _Cue(EmergencyService(str(code)), strong=strength == "strong"))
            for code, spec in services.items()
            for strength in ("strong", "weak")
            for p in spec.get(f"{strength}_patterns") or ()
        )
        self._ticket_evidence = float(emergency.get("ticket_evidence", 3))
        self._priority = tuple(
            EmergencyService(str(s)) for s in emergency.get("priority", list(services))
        )
        self._now_markers = _words(emergency.get("now_markers"), "emergency.now_markers")
        self._negators = _words(emergency.get("negators"), "emergency.negators")
        self._after_negators = _words(emergency.get("after_negators"), "after_negators")

        oos: dict[str, RejectReason] = {}
        for reason, words in (data.get("out_of_scope") or {}).items():
            for word in _words(words, f"out_of_scope.{reason}"):
                oos.setdefault(word, RejectReason(str(reason)))
        self._oos_scan = TermScanner(oos)

    @classmethod
    def packaged(cls) -> Lexicon:
        """The lexicon shipped in ``dispatch/data/lexicon.yaml`` (read once per process)."""
        return _packaged_lexicon()

    def score_categories(self, text: str) -> Scores:
        """Sum of the weights of the different terms of each category found in ``text``."""
        found: dict[str, dict[str, float]] = defaultdict(dict)
        for hit in self._category_scan.scan(text):
            for code, weight in hit.payload:
                found[code][hit.term] = weight
        for code, pattern, weight in self._category_patterns:
            match = pattern.search(text)
            if match:
                found[code][match.group(0)] = weight
        return _rank(found)

    def score_types(self, text: str, category: str | None) -> Scores:
        """Cue weights per type, plus a prior for the default type and a bonus for the type
        usual in ``category`` (a fire hazard is usually reported by a neighbour: 举报)."""
        found: dict[str, dict[str, float]] = defaultdict(dict)
        found[self._default_type.value]["默认"] = self._type_prior
        usual = self._category_defaults.get(category or "")
        if usual is not None:
            found[usual.value][f"{category}常见类型"] = self._category_bonus
        for hit in self._type_scan.scan(text):
            for type_, weight in hit.payload:
                found[type_.value][hit.term] = weight
        for type_, pattern, weight in self._type_patterns:
            match = pattern.search(text)
            if match:
                found[type_.value][match.group(0)] = weight
        return _rank(found)

    def find_emergency(self, text: str, category_score: float = 0.0) -> EmergencyFinding | None:
        """The emergency service a text calls for, or None.

        Recall first: every occurrence of every cue counts (overlaps included, so a weak "在打"
        cannot hide a strong "打架"), except inside a blocker ("在打桩"). A strong cue fires
        unless a hypothetical or past marker precedes it in its clause (or "危险/隐患" follows
        it). A weak cue (受伤, 血, 摔下来) also fires, unless negated, when a "now" marker is in
        its sentence or when the text is not recognisably a ticket matter (its best category
        scores under ``ticket_evidence``): an unrecognised account of harm is treated as an
        emergency rather than left for triage.
        """
        hits = self._emergency_scan.find_all(text)
        for pattern, found in self._emergency_patterns:
            hits += [Hit(m.start(), m.end(), m.group(0), found) for m in pattern.finditer(text)]
        blocked = [(h.start, h.end) for h in hits if h.payload is None]
        ticket_like = category_score >= self._ticket_evidence
        fired: dict[EmergencyService, list[tuple[str, bool]]] = defaultdict(list)
        cancelled: list[str] = []
        for hit in hits:
            cue = hit.payload
            if cue is None or any(s <= hit.start and hit.end <= e for s, e in blocked):
                continue
            left, right = span_at(text, hit.start, hit.end)
            before, after = text[left : hit.start], text[hit.end : right]
            negator = next((n for n in self._negators if n in before), None)
            negator = negator or next((n for n in self._after_negators if n in after), None)
            if negator is not None:
                cancelled.append(f"{hit.term}({negator})")
                continue
            s_left, s_right = span_at(text, hit.start, hit.end, SENTENCE_ENDS)
            now = any(m in text[s_left:s_right] for m in self._now_markers)
            if not cue.strong and not now and ticket_like:
                cancelled.append(f"{hit.term}(无现场标志, 像普通诉求)")
                continue
            fired[cue.service].append((hit.term, cue.strong))
        for service in self._priority:
            if service in fired:
                words = list(dict.fromkeys(t for t, _ in fired[service]))
                # "燃气泄漏" already says "泄漏": list each cue once, by its longest form
                terms = tuple(w for w in words if not any(w != o and w in o for o in words))
                strong = any(s for _, s in fired[service])
                return EmergencyFinding(service, terms, strong, tuple(cancelled))
        return None

    def find_out_of_scope(self, text: str) -> tuple[RejectReason, tuple[str, ...]] | None:
        """The first reason (litigation, petition, institutions) whose words occur, with them."""
        by_reason: dict[RejectReason, list[str]] = defaultdict(list)
        for hit in self._oos_scan.scan(text):
            by_reason[hit.payload].append(hit.term)
        for reason in (
            RejectReason.LITIGATION,
            RejectReason.PETITION,
            RejectReason.PARTY_CONGRESS_COURTS_ARMY,
        ):
            if reason in by_reason:
                return reason, tuple(dict.fromkeys(by_reason[reason]))
        if by_reason:
            reason, words = next(iter(by_reason.items()))
            return reason, tuple(words)
        return None


def _rank(found: Mapping[str, Mapping[str, float]]) -> Scores:
    totals = {code: sum(terms.values()) for code, terms in found.items()}
    ranked = tuple(sorted(totals.items(), key=lambda kv: -kv[1]))
    evidence = {
        code: tuple(f"{t}({w:g})" for t, w in terms.items()) for code, terms in found.items()
    }
    return Scores(ranked, evidence)


@cache
def _packaged_lexicon() -> Lexicon:
    text = resources.files("dispatch.data").joinpath("lexicon.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError("dispatch/data/lexicon.yaml: expected a mapping")
    return Lexicon(data)


def _category_confidence(ranked: tuple[tuple[str, float], ...], min_score: float) -> float:
    """High when the winner scores well and clearly beats the runner-up."""
    if not ranked or ranked[0][1] < min_score:
        return 0.2
    best = ranked[0][1]
    second = ranked[1][1] if len(ranked) > 1 else 0.0
    strength = min(1.0, best / 8.0)
    margin = (best - second) / best
    return round(0.35 + 0.35 * strength + 0.3 * margin, 2)


def _top(scores: Scores, n: int = 3) -> tuple[tuple[str, float], ...]:
    return tuple((code, round(score, 2)) for code, score in scores.ranked[:n])


def understand(text: str, *, lexicon: Lexicon | None = None) -> Understanding:
    """Kind, type, category and emergency service of a citizen's text, with the cues used.

    Whether the place is inside 安阳市 is the gazetteer's question, not this function's:
    ``dispatch.routing.suggest`` combines both.
    """
    lex = lexicon or Lexicon.packaged()
    norm = normalize(text)
    categories = lex.score_categories(norm)
    best = categories.best
    category = best[0] if best is not None and best[1] >= lex.min_score else None
    alternatives = _top(categories)

    emergency = lex.find_emergency(norm, best[1] if best is not None else 0.0)
    if emergency is not None:
        urgent = [f"紧急 {emergency.service.value}: {'、'.join(emergency.cues)}"]
        if emergency.cancelled:
            urgent.append(f"不计的紧急词: {'、'.join(emergency.cancelled)}")
        urgent.append("紧急事项一键转接, 不派单 (条例第四十六条)")
        return Understanding(
            kind=Kind.EMERGENCY,
            type=TicketType.HELP,
            category=None,
            emergency=emergency.service,
            confidence=0.95 if emergency.strong else 0.75,
            explanation=tuple(urgent),
            alternatives=alternatives,
        )

    types = lex.score_types(norm, category)
    type_ = TicketType(types.ranked[0][0])
    type_why = f"类型 {type_.value}: {'、'.join(types.evidence[type_.value])}"

    out = lex.find_out_of_scope(norm)
    if out is not None:
        reason, words = out
        return Understanding(
            kind=Kind.OUT_OF_SCOPE,
            type=type_,
            category=None,
            emergency=None,
            confidence=0.9,
            explanation=(
                f"不予受理 ({reason.value}): {'、'.join(words)} (条例第四十九条第三项)",
                type_why,
            ),
            reject_reason=reason,
            alternatives=alternatives,
        )

    why: list[str] = []
    if category is None:
        why.append("类别: 无足够关键词, 转人工分类")
    else:
        why.append(f"类别 {category}: {'、'.join(categories.evidence[category])}")
        if len(categories.ranked) > 1:
            runner, score = categories.ranked[1]
            why.append(f"次选类别 {runner} ({score:g})")
    why.append(type_why)
    return Understanding(
        kind=Kind.TICKET,
        type=type_,
        category=category,
        emergency=None,
        confidence=_category_confidence(categories.ranked, lex.min_score),
        explanation=tuple(why),
        alternatives=alternatives,
    )
