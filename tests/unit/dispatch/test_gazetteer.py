"""The gazetteer: units, aliases, streets, shared names, roads, other cities, GPS points."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from dispatch.gazetteer import Gazetteer, Places, Street, Unit, street_stem
from hotline.services.seed import division_rows, street_code

GAZ = Gazetteer.packaged()


@pytest.mark.parametrize(
    ("text", "division"),
    [
        ("文峰区东大街街道我们小区", "410502"),
        ("在文峰买的二手房", "410502"),
        ("北关区某养老院", "410503"),
        ("殷都那边的工厂", "410505"),
        ("林州太行大峡谷景区", "410581"),
        ("汤阴的一家超市", "410523"),
        ("滑县某乡镇初中", "410526"),
        ("安阳县吕村镇主街", "410522"),
    ],
)
def test_full_names_and_aliases(text: str, division: str) -> None:
    location = GAZ.locate(text)
    assert location.division == division
    assert location.confidence >= 0.9


@pytest.mark.parametrize(
    "text", ["高新区今年供暖费", "安阳高新区银杏大街街道", "高新技术开发区一家公司"]
)
def test_high_tech_zone(text: str) -> None:
    assert GAZ.locate(text).division == "410571"


@pytest.mark.parametrize("text", ["示范区这边的快递", "城乡一体化示范区某村"])
def test_demonstration_zone(text: str) -> None:
    assert GAZ.locate(text).division == "AYSFQ"


def test_a_street_alone_decides_its_unit_and_uses_the_seed_code() -> None:
    location = GAZ.locate("东关街道我们小区物业费太高")
    assert location.division == "410502"
    assert location.street == street_code("410502", "东关街道")
    assert "东关街道" in " ".join(location.evidence)


@pytest.mark.parametrize(
    ("text", "division", "street"),
    [
        ("东关街道办事处门口", "410502", "东关街道"),
        ("滑县道口镇的居民", "410526", "道口镇街道"),  # a town turned street office
        ("瓦岗寨乡的村民", "410526", "瓦岗寨乡"),  # not 汤阴县's 瓦岗乡 (longest name wins)
    ],
)
def test_street_variants(text: str, division: str, street: str) -> None:
    location = GAZ.locate(text)
    assert (location.division, location.street) == (division, street_code(division, street))


def test_shared_name_alone_is_ambiguous() -> None:
    location = GAZ.locate("城关镇我们小区的路灯坏了")
    assert location.division is None
    assert location.ambiguous
    assert {"410523", "410527"} <= set(location.candidates)
    assert "城关镇" in " ".join(location.evidence)


@pytest.mark.parametrize(
    ("text", "division"),
    [("汤阴县城关镇某小区", "410523"), ("内黄县城关镇某小区", "410527")],
)
def test_shared_name_decides_with_its_unit(text: str, division: str) -> None:
    location = GAZ.locate(text)
    assert location.division == division
    assert location.street == street_code(division, "城关镇")


def test_shuiye_is_shared_between_anyang_county_and_yindu() -> None:
    assert GAZ.locate("水冶镇一个小区").ambiguous
    assert GAZ.locate("安阳县水冶镇某作坊").division == "410522"
    assert GAZ.locate("殷都区水冶街道某商场").division == "410505"


def test_two_units_named_is_ambiguous() -> None:
    location = GAZ.locate("从文峰区搬到北关区以后")
    assert location.division is None
    assert set(location.candidates) == {"410502", "410503"}


def test_a_unit_beats_a_street_of_another_unit_with_lower_confidence() -> None:
    location = GAZ.locate("北关区中华路街道")  # 中华路街道 is in 文峰区
    assert location.division == "410503"
    assert location.confidence < 0.9


@pytest.mark.parametrize(
    "text", ["文峰大道上两辆车撞了", "中华路上的烧烤摊", "红旗路和光明路交叉口"]
)
def test_roads_are_not_divisions(text: str) -> None:
    assert GAZ.locate(text).division is None


def test_a_name_before_an_ordinary_road_word_is_still_the_unit() -> None:
    assert GAZ.locate("示范区路灯不亮").division == "AYSFQ"
    assert GAZ.locate("林州路边有人摆摊").division == "410581"


@pytest.mark.parametrize(
    ("text", "city"),
    [
        ("郑州金水区买的房子", "郑州"),
        ("新乡市红旗区一家工厂", "新乡"),
        ("濮阳华龙区我们小区", "濮阳"),
        ("鹤壁淇滨区停水两天了", "鹤壁"),
        ("去开封清明上河园旅游", "开封"),
    ],
)
def test_other_cities_are_outside(text: str, city: str) -> None:
    location = GAZ.locate(text)
    assert location.other_places == (city,)
    assert location.outside_city


def test_a_zone_after_another_city_is_that_city_s() -> None:
    location = GAZ.locate("郑州高新区一家公司")
    assert location.division is None
    assert location.outside_city


@pytest.mark.parametrize("text", ["买的复合肥没效果", "牛奶还没开封就过期了", "北京东路上"])
def test_words_and_roads_containing_city_names_are_not_cities(text: str) -> None:
    assert GAZ.locate(text).other_places == ()


def test_cross_region_services_stay_in_scope() -> None:
    location = GAZ.locate("孩子在北京住院，异地就医备案怎么办")
    assert location.other_places == ("北京",)
    assert not location.outside_city


def test_an_anyang_unit_keeps_a_matter_in_scope() -> None:
    location = GAZ.locate("我在郑州上班，老家是滑县的")
    assert location.division == "410526"
    assert not location.outside_city


def test_no_place() -> None:
    location = GAZ.locate("楼上装修天天砸墙")
    assert location.division is None
    assert not location.ambiguous
    assert location.confidence == 0.0


def test_from_database_rows_matches_the_packaged_yaml() -> None:
    text = resources.files("hotline.data").joinpath("anyang-divisions.yaml").read_text("utf-8")
    from_rows = Gazetteer.from_rows(division_rows(yaml.safe_load(text)))
    for sample in ["汤阴县城关镇", "城关镇", "高新区", "东关街道", "郑州", "文峰大道"]:
        assert from_rows.locate(sample) == GAZ.locate(sample)
    assert from_rows.is_urban("410502")
    assert not from_rows.is_urban("410523")


def test_plain_lists_make_a_gazetteer_for_any_city() -> None:
    units = [
        Unit("1", "甲区", ("甲",), True, (Street("1-东街道", "东街道", "1"),)),
        Unit("2", "乙县", (), False, (Street("2-城关镇", "城关镇", "2"),)),
        Unit("3", "丙县", (), False, (Street("3-城关镇", "城关镇", "3"),)),
    ]
    gaz = Gazetteer(units, Places(other_places=("外市",)))
    assert gaz.locate("东街道").division == "1"
    assert gaz.locate("城关镇").ambiguous
    assert gaz.locate("乙县城关镇").street == "2-城关镇"
    assert gaz.locate("外市某区").outside_city


def test_street_stem() -> None:
    assert street_stem("水冶街道") == street_stem("水冶镇") == "水冶"
    assert street_stem("道口镇街道") == "道口"
    assert street_stem("城关街道") == street_stem("城关镇") == "城关"


def test_locate_point_is_a_low_confidence_nearest_centroid() -> None:
    location = GAZ.locate_point(35.58, 114.52)
    assert location.division == "410526"
    assert 0 < location.confidence < 0.5
    assert "近似" in location.evidence[0]


def test_locate_point_far_away_is_nowhere() -> None:
    assert GAZ.locate_point(34.75, 113.62).division is None  # 郑州
