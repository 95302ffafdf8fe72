"""The routing catalogue, the decision, and ``suggest`` end to end on the dev set."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from dispatch.gazetteer import Gazetteer
from dispatch.routing import TERRITORY, Catalogue, Mode, Rule, route, suggest
from dispatch.understanding import Kind
from hotline.domain.vocabulary import EmergencyService, RejectReason, TicketType
from hotline.services.seed import category_rows, division_rows, street_code

GAZ = Gazetteer.packaged()
CAT = Catalogue.default()
DEV_SET = Path(__file__).resolve().parents[2] / "data" / "routing-dev.jsonl"
CONTRACT_KEYS = {
    "kind",
    "type",
    "category",
    "division",
    "department",
    "emergency",
    "confidence",
    "explanation",
}


def _packaged(name: str) -> dict[str, Any]:
    data = yaml.safe_load(resources.files("hotline.data").joinpath(name).read_text("utf-8"))
    assert isinstance(data, dict)
    return data


# --- the three modes -------------------------------------------------------------------------


@pytest.mark.parametrize("division", ["410502", "410523", None])
def test_duty_goes_to_the_city_department_wherever_it_happened(division: str | None) -> None:
    decision = route(CAT, "power", division)
    assert decision.department == "GDGS"
    assert decision.rule is not None and decision.rule.mode is Mode.DUTY
    assert decision.catalogue_version == CAT.version


def test_territory_goes_to_the_county_government_and_may_be_pushed_down() -> None:
    street = street_code("410502", "东关街道")
    decision = route(CAT, "property", "410502", street)
    assert decision.department == "GOV-410502"
    assert decision.push_down_to == f"GOV-{street}"


def test_urban_in_an_urban_unit_goes_to_the_utility() -> None:
    assert route(CAT, "water", "410502").department == "GSGS"
    assert route(CAT, "heating", "410571").department == "RLGS"  # 高新区 is urban
    assert route(CAT, "municipal", "AYSFQ").department == "CGJ"


def test_urban_in_a_rural_county_goes_to_the_county_government() -> None:
    decision = route(CAT, "water", "410523", street_code("410523", "菜园镇"))
    assert decision.department == "GOV-410523"
    assert decision.push_down_to == "GOV-" + street_code("410523", "菜园镇")


@pytest.mark.parametrize("category", ["property", "water", "municipal"])
def test_unknown_territory_means_manual_triage(category: str) -> None:
    decision = route(CAT, category, None)
    assert decision.department is None
    assert decision.confidence == 0.0
    assert "转人工" in " ".join(decision.explanation)


def test_unknown_division_code_or_category_means_manual_triage() -> None:
    assert route(CAT, "property", "999999").department is None
    assert route(CAT, "no_such_category", "410502").department is None


def test_division_confidence_scales_territorial_decisions_only() -> None:
    assert route(CAT, "property", "410502", division_confidence=0.6).confidence == 0.6
    assert route(CAT, "power", "410502", division_confidence=0.6).confidence == 1.0


# --- the catalogue ---------------------------------------------------------------------------


def test_default_catalogue_covers_every_taxonomy_category() -> None:
    taxonomy = _packaged("anyang-taxonomy.yaml")
    assert CAT.categories == {c["code"] for c in taxonomy["categories"]}
    assert CAT.urban_divisions == {"410502", "410503", "410505", "410506", "410571", "AYSFQ"}


def test_catalogue_from_database_rows_decides_the_same() -> None:
    divisions = division_rows(_packaged("anyang-divisions.yaml"))
    counties = [d for d in divisions if d["level"] == "county"]
    from_rows = Catalogue.from_categories(
        category_rows(_packaged("anyang-taxonomy.yaml")),
        urban_divisions=[d["code"] for d in counties if d["urban"]],
        counties=[d["code"] for d in counties],
    )
    assert from_rows.version == CAT.version
    for category in CAT.categories:
        for division in ["410502", "410527", None]:
            assert route(from_rows, category, division) == route(CAT, category, division)


def test_extra_rules_from_config_override_the_defaults() -> None:
    catalogue = CAT.with_rules(
        [
            {
                "category": "municipal",
                "mode": "duty",
                "department": "CGJ",
                "keywords": ["井盖"],
                "co_handlers": [TERRITORY, "TXYY"],
            },
            {"category": "property", "mode": "territory", "push_down": False},
            {"category": "consumer", "mode": "duty", "department": "ZWFW", "types": ["咨询"]},
            {
                "id": "hx",
                "category": "water",
                "mode": "duty",
                "department": "GSGS",
                "divisions": ["410526"],
            },
        ]
    )
    assert catalogue.version != CAT.version
    manhole = route(catalogue, "municipal", "410523", text="井盖丢了")
    assert manhole.department == "CGJ"
    assert manhole.co_handlers == ("GOV-410523", "TXYY")
    assert route(catalogue, "municipal", "410523", text="路灯不亮").department == "GOV-410523"
    pushed = route(catalogue, "property", "410502", street_code("410502", "东关街道"))
    assert (pushed.department, pushed.push_down_to) == ("GOV-410502", None)
    asked = route(catalogue, "consumer", None, type_=TicketType.CONSULTATION)
    assert asked.department == "ZWFW"
    assert route(catalogue, "consumer", None, type_=TicketType.COMPLAINT).department == "SCJG"
    hua = route(catalogue, "water", "410526")
    assert (hua.department, hua.rule and hua.rule.id) == ("GSGS", "hx")
    assert route(catalogue, "water", "410527").department == "GOV-410527"


def test_a_given_version_is_recorded() -> None:
    catalogue = CAT.with_rules([], version=7)
    assert route(catalogue, "power", None).catalogue_version == 7


@pytest.mark.parametrize(
    "rule",
    [
        {"category": "water", "mode": "somewhere"},
        {"category": "water", "mode": "duty"},  # duty needs a department
        {"mode": "territory"},
        {"category": "water", "mode": "territory", "colour": "blue"},
    ],
)
def test_invalid_rules_are_rejected(rule: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="rule"):
        CAT.with_rules([rule])


def test_rule_objects_can_be_added_directly() -> None:
    rule = Rule(id="x", category="gas", mode=Mode.DUTY, department="RQGS")
    assert route(CAT.with_rules([rule]), "gas", "410523").department == "RQGS"


# --- suggest ---------------------------------------------------------------------------------


def test_suggest_ticket_to_json_matches_the_contract() -> None:
    result = suggest("北关区红旗路街道小区水压低，三楼以上放不出水", gazetteer=GAZ, catalogue=CAT)
    payload = result.to_json()
    assert set(payload) == CONTRACT_KEYS
    assert payload["kind"] == "ticket"
    assert payload["type"] == "投诉"
    assert (payload["category"], payload["division"], payload["department"]) == (
        "water",
        "410503",
        "GSGS",
    )
    assert payload["emergency"] is None
    assert 0.0 <= payload["confidence"] <= 1.0
    assert all(isinstance(line, str) for line in payload["explanation"])
    assert result.street == street_code("410503", "红旗路街道")
    assert json.dumps(payload, ensure_ascii=False)


def test_emergencies_are_never_dispatched_but_keep_the_division() -> None:
    result = suggest("高新区商颂大街街道一个厂房着火了", gazetteer=GAZ, catalogue=CAT)
    assert result.kind is Kind.EMERGENCY
    assert result.emergency is EmergencyService.FIRE
    assert (result.division, result.department, result.category) == ("410571", None, None)


def test_out_of_scope_matters_are_never_dispatched() -> None:
    court = suggest("文峰区人民法院立案半年了一直不开庭", gazetteer=GAZ, catalogue=CAT)
    assert (court.kind, court.division, court.department) == (
        Kind.OUT_OF_SCOPE,
        "410502",
        None,
    )
    elsewhere = suggest("我在郑州金水区买的房子延期交房", gazetteer=GAZ, catalogue=CAT)
    assert elsewhere.kind is Kind.OUT_OF_SCOPE
    assert elsewhere.reject_reason is RejectReason.OUTSIDE_CITY
    assert (elsewhere.division, elsewhere.department, elsewhere.category) == (None, None, None)


def test_the_address_decides_the_place() -> None:
    result = suggest("城关镇我们小区物业乱收费", "汤阴县", gazetteer=GAZ, catalogue=CAT)
    assert (result.division, result.department) == ("410523", "GOV-410523")
    assert result.street == street_code("410523", "城关镇")
    shared = suggest("物业乱收费", "城关镇幸福小区", gazetteer=GAZ, catalogue=CAT)
    assert (shared.division, shared.department) == (None, None)


def test_a_gps_point_is_the_last_resort() -> None:
    result = suggest("小区门口路灯坏了", gazetteer=GAZ, catalogue=CAT, point=(36.12, 114.36))
    assert (result.division, result.department) == ("410503", "CGJ")
    assert result.confidence < 0.5


def test_suggest_with_config_rules() -> None:
    catalogue = CAT.with_rules(
        [{"category": "municipal", "mode": "duty", "department": "CGJ", "keywords": ["井盖"]}]
    )
    result = suggest("人行道上井盖没了", gazetteer=GAZ, catalogue=catalogue)
    assert result.department == "CGJ"
    assert result.decision is not None
    assert result.decision.catalogue_version == catalogue.version


# --- the labelled dev set: regressions fail here ----------------------------------------------

#: What ``scripts/eval_routing.py`` measured when this was written (see docs/routing.md).
#: Targets: department >= 95%, division >= 97%, emergency recall 100%.
REACHED = {"kind": 1.0, "division": 1.0, "department": 1.0}


def test_dev_set_accuracy_and_emergency_recall() -> None:
    examples = [json.loads(line) for line in DEV_SET.read_text("utf-8").splitlines() if line]
    assert len(examples) == 171
    right = dict.fromkeys(REACHED, 0)
    emergencies = flagged = 0
    misses = []
    for ex in examples:
        got = suggest(ex["text"], gazetteer=GAZ, catalogue=CAT).to_json()
        for field in REACHED:
            if got[field] == ex["expect"][field]:
                right[field] += 1
            else:
                misses.append((ex["id"], field, ex["expect"][field], got[field]))
        if ex["expect"]["kind"] == "emergency":
            emergencies += 1
            flagged += got["kind"] == "emergency"
            assert got["emergency"] == ex["expect"]["emergency"], ex["id"]
    assert flagged == emergencies, "emergency recall must be 100%"
    for field, floor in REACHED.items():
        assert right[field] / len(examples) >= floor, misses
