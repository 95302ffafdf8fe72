"""Attachments are judged by their bytes; WeChat XML is read with DTDs refused."""

from __future__ import annotations

import pytest

from channels.files import safe_filename, sniff
from channels.wechat import BadPush, cdata_safe, read_xml


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00", "image/png"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b"MZ\x90\x00", None),
        (b"<html>", None),
    ],
)
def test_sniff(head: bytes, kind: str | None) -> None:
    assert sniff(head) == kind


def test_safe_filename() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\张三\\现场照片.jpg") == "现场照片.jpg"
    assert safe_filename("%E7%8E%B0%E5%9C%BA.png") == "现场.png"
    assert safe_filename("") == "附件"
    assert safe_filename("a<b>|c.pdf") == "a_b_c.pdf"


def test_read_xml() -> None:
    fields = read_xml(b"<xml><MsgType><![CDATA[text]]></MsgType><Content>x</Content></xml>")
    assert fields == {"MsgType": "text", "Content": "x"}
    for hostile in (
        b'<!DOCTYPE x [<!ENTITY a "b">]><xml><C>&a;</C></xml>',
        b'<!DOCTYPE x [<!ENTITY a SYSTEM "file:///etc/passwd">]><xml><C>&a;</C></xml>',
        b"<xml><C>",
        b"<notxml/>",
    ):
        with pytest.raises(BadPush) as caught:
            read_xml(hostile)
        assert caught.value.status == 400


def test_cdata_safe() -> None:
    text = cdata_safe("a]]>b")
    assert "<![CDATA[" + text + "]]>" == "<![CDATA[a]]]]><![CDATA[>b]]>"
