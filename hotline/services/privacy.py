"""What of a citizen's own text may be shown to anyone on the internet.

Open311 lists and the public feed of rated replies (条例第五十二条: evaluations and replies are
public) are read by strangers. The citizen record (name, phone) is never part of them, but
citizens write their number, their ID card or their name into the text itself ("请联系我
13812345678"), and units write them into replies ("已电话联系王先生"). Before text leaves:

* :func:`redact` blanks the citizen's own name and numbers wherever they appear, and anything
  shaped like a mobile or landline number, an identity card number or an e-mail address;
* :func:`scrub` (for publication) does the same and also blanks people's names written with a
  form of address (王先生, 李女士, 张师傅), names after a label (姓名：..., 联系人：...), and
  the house-level part of a home address (3号楼2单元401室, 5-2-301).

Over-blanking a number in a complaint costs little; publishing a whistle-blower's phone cannot
be undone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "*"

_NUMBERS = [
    # mainland mobile numbers, with or without +86 and separators
    re.compile(r"(?<![0-9A-Za-z])(?:\+?86[\s-]?)?1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?!\d)"),
    # landlines with an area code: 0372-5921234, (0372)5921234
    re.compile(r"(?<!\d)[(（]?0\d{2,3}[)）]?[\s-]?\d{7,8}(?!\d)"),
    # identity card numbers (GB 11643): 6 digits of region, a birth date, 3 digits, a check
    re.compile(
        r"(?<![0-9A-Za-z])\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
        r"(?![0-9A-Za-z])"
    ),
    # e-mail addresses (ASCII only: \w would swallow the Chinese words around one)
    re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"),
]

#: the commonest surnames (百家姓 by frequency): a surname before a form of address is a name
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛"
    "郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦"
    "俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房"
    "滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应"
    "臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
_COMPOUND_SURNAMES = "欧阳|司马|上官|诸葛|东方|皇甫|尉迟|公孙|慕容|令狐|长孙|宇文|司徒|夏侯"
_FORMS_OF_ADDRESS = (
    "先生|女士|小姐|师傅|阿姨|大爷|大妈|大娘|大姐|大哥|奶奶|爷爷|老人|老太|老汉|同学|老板"
)

_NAMES = [
    # 王先生, 欧阳女士 (张某某 stays: it is already anonymous)
    re.compile(rf"(?:{_COMPOUND_SURNAMES}|[{SURNAMES}])(?=(?:{_FORMS_OF_ADDRESS}))"),
    # a name after a label: 姓名：张三, 联系人:李四, 户主：王建国
    re.compile(r"(?<=[:：])\s*[\u4e00-\u9fff·]{2,4}(?<=\S)"),
]
#: the labels whose following name the second pattern blanks
_NAME_LABEL = re.compile(r"(?:姓名|联系人|户主|称呼|署名)\s*$")

_HOUSE = [
    # 3号楼, 12栋, 5幢, 2单元, 401室, 401房, 3户 (building, entrance, flat)
    re.compile(r"[0-9０-９]+(?=\s*(?:号楼|栋|幢|单元|室|号房|户))"),
    # 5-2-301 or 5#2-301: building-entrance-flat
    re.compile(r"(?<![0-9A-Za-z])\d{1,3}\s*[-#－]\s*\d{1,2}\s*[-－]\s*\d{2,4}(?![0-9A-Za-z])"),
]

#: a name shorter than this is not blanked out of text (a one-character name is a common word)
MIN_NAME = 2


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def own_secrets(
    name: str | None, phones: Iterable[str | None], others: Iterable[str | None] = ()
) -> list[str]:
    """The literal strings of this citizen to blank: their name, their numbers as written and
    as plain digits (with and without the country code), and ``others`` (an address they
    gave), longest first."""
    found: set[str] = set()
    if name and len(name.strip()) >= MIN_NAME:
        found.add(name.strip())
    for phone in phones:
        if not phone:
            continue
        digits = _digits(phone)
        if len(digits) >= 5:  # shorter digit runs are not a phone worth hiding
            found.add(phone.strip())
            found.add(digits)
            if digits.startswith("86") and len(digits) > 11:  # +86 and a mobile
                found.add(digits[2:])
    for other in others:
        if other and len(other.strip()) >= MIN_NAME:
            found.add(other.strip())
    return sorted(found, key=len, reverse=True)


def _blank(match: re.Match[str]) -> str:
    return re.sub(r"\S", MASK, match.group(0))


def redact(text: str | None, secrets: Iterable[str] = ()) -> str | None:
    """Blank ``secrets`` and every phone number, ID card number and e-mail address."""
    if not text:
        return text
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK * len(secret))
    for pattern in _NUMBERS:
        text = pattern.sub(lambda m: MASK * len(m.group(0)), text)
    return text


def scrub(text: str | None, secrets: Iterable[str] = ()) -> str | None:
    """:func:`redact`, and people's names and home addresses: for text published to anyone."""
    text = redact(text, secrets)
    if not text:
        return text
    text = _NAMES[0].sub(_blank, text)
    text = _NAMES[1].sub(lambda m: _labelled_name(m, text or ""), text)
    for pattern in _HOUSE:
        text = pattern.sub(_blank, text)
    return text


def _labelled_name(match: re.Match[str], text: str) -> str:
    """Blank the name after ``姓名：`` and the like; leave other text after a colon alone."""
    before = text[: match.start() - 1]
    return _blank(match) if _NAME_LABEL.search(before) else match.group(0)
