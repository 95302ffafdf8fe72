"""The top issues in citizens' own words: Chinese keyword extraction with jieba's TF-IDF.

jieba is loaded once, quietly: its logger is turned down (it prints to stderr on every first
use), its dictionary cache goes to a private temporary folder instead of the shared /tmp, and
the ResourceWarning its analyser module raises at import (it opens its IDF file without closing
it) is silenced there and only there.
"""

from __future__ import annotations

import functools
import logging
import tempfile
import threading
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from hotline.reports.gather import Keyword

#: the words of the hotline's own trade, not of citizens' matters
STOP_WORDS = frozenset(
    {
        "来电人", "来电", "市民", "反映", "咨询", "投诉", "举报", "求助", "建议", "希望", "问题",
        "情况", "要求", "相关", "部门", "处理", "解决", "尽快", "没有", "一直", "现在", "已经",
        "怎么", "什么", "如何", "能否", "是否", "多次", "请回电", "回电", "电话", "联系", "我们",
        "他们", "这个", "那个", "今年", "昨天", "今天", "每天", "目前", "附近", "存在", "影响",
        "严重", "不能", "可以", "需要", "进行", "办理", "街道", "小区", "某路段", "路段",
        "新村", "家园", "花园", "条路", "一家", "路边", "路口", "老板", "公司", "工作人员",
    }
)  # fmt: skip
#: parts of speech kept: nouns, verbs that name a matter, adjectives; not places (ns: the
#: divisions are counted on their own) nor people's names (nr)
ALLOW_POS = ("n", "nz", "vn", "v", "a", "an", "l")

_lock = threading.Lock()


@functools.cache
def _extractor() -> Any:
    """jieba's TF-IDF extractor, initialised quietly (see the module's docstring)."""
    with _lock, warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        import jieba  # type: ignore[import-untyped]  # noqa: PLC0415 - heavy; only reports need it
        import jieba.analyse  # type: ignore[import-untyped]  # noqa: PLC0415

        jieba.setLogLevel(logging.WARNING)
        jieba.dt.tmp_dir = tempfile.mkdtemp(prefix="hotline-jieba-")
        jieba.dt.initialize()
        extractor = jieba.analyse.default_tfidf
    return extractor


def top_keywords(texts: Sequence[str], top: int, stop: Iterable[str] = ()) -> list[Keyword]:
    """The ``top`` words that stand out in ``texts`` taken together, each with how many texts
    use it and the shortest of them as an example (the texts come scrubbed). ``stop``: more
    words to leave out (the names of places, say)."""
    ignored = STOP_WORDS | set(stop)
    corpus = "\n".join(t for t in texts if t)
    if not corpus.strip():
        return []
    extractor = _extractor()
    with _lock:
        found = extractor.extract_tags(corpus, topK=top * 3, withWeight=True, allowPOS=ALLOW_POS)
    keywords: list[Keyword] = []
    for word, weight in found:
        if word in ignored or len(word) < 2 or word.isdigit():
            continue
        using = [t for t in texts if word in t]
        if not using:
            continue
        example = min(using, key=len)
        keywords.append(Keyword(word, round(float(weight), 4), len(using), _short(example)))
        if len(keywords) == top:
            break
    return keywords


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
