"""The scrubber for public text: numbers, ID cards, e-mail, names, home addresses."""

from __future__ import annotations

import pytest

from hotline.services.privacy import own_secrets, redact, scrub


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("请回电13812345678谢谢", "13812345678"),
        ("电话 +86 138 1234 5678", "138 1234 5678"),
        ("座机0372-5921234", "5921234"),
        ("（0372）5921234", "5921234"),
        ("身份证410502199001011234", "410502199001011234"),
        ("身份证41050219900101123X", "41050219900101123X"),
        ("邮箱 wang.jian@example.cn 收", "wang.jian@example.cn"),
        ("已电话联系王先生", "王先生"),
        ("已联系欧阳女士说明情况", "欧阳女士"),
        ("经与张师傅沟通", "张师傅"),
        ("姓名：张三丰，年龄", "张三丰"),
        ("联系人:李四。", "李四"),
        ("住红旗路3号楼2单元401室", "3号楼2单元401室"),
        ("家住5-2-301", "5-2-301"),
    ],
)
def test_scrub_blanks_personal_data(text: str, secret: str) -> None:
    out = scrub(text)
    assert out is not None
    assert secret not in out
    assert len(out) == len(text)  # blanked in place, the rest readable


def test_scrub_keeps_ordinary_text() -> None:
    text = "经核实，来电人反映情况属实。我单位已安排人员现场处理，问题已解决。张某某已知悉。"
    assert scrub(text) == text


def test_own_secrets_blank_the_citizen_everywhere() -> None:
    secrets = own_secrets("王建国", ["+8613812345678", None], ["北关区幸福小区"])
    out = scrub("王建国(8613812345678)住北关区幸福小区，13812345678", secrets)
    assert out is not None
    for secret in ("王建国", "13812345678", "北关区幸福小区"):
        assert secret not in out


def test_redact_is_what_open311_shows() -> None:
    # an address of a matter stays in Open311; only numbers and the citizen's own data go
    assert redact("北关区红旗路 18 号") == "北关区红旗路 18 号"
    assert redact(None) is None
    assert redact("") == ""
