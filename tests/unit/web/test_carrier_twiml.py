"""TwiML replies: the text is exactly what twilio's own ``str(document)`` gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Gather, VoiceResponse

from hotline.web.carrier import twiml

# any text a citizen or a template may put in a reply, XML's special characters included
texts = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=200
).filter(lambda t: all(c in "\t\n\r" or ord(c) >= 0x20 for c in t))


@given(texts)
def test_a_message_reply_is_the_librarys_own_text(text: str) -> None:
    reply = MessagingResponse()
    reply.message(text)
    response = twiml(reply)
    assert response.text == str(reply)
    assert response.content_type == "text/xml" and response.charset == "utf-8"


@given(texts, texts)
def test_a_voice_reply_is_the_librarys_own_text(said: str, action: str) -> None:
    reply = VoiceResponse()
    gather = Gather(num_digits=1, action=f"https://example.org/ivr?x={action}", language="zh-CN")
    gather.say(said, language="cmn-CN", voice="Polly.Zhiyu")
    reply.append(gather)
    reply.say("再见 ]]> <&>\"'", language="cmn-CN")
    reply.hangup()
    assert twiml(reply).text == str(reply)
