"""With ``[agi] secret`` set, the secret is read from the raw header block before the block is
parsed (issue 32: a storm of requests with a wrong secret costs a search each, not a parse).
The raw reading must find exactly the script that the parse would have kept, whatever the block."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agi.fastagi.server import header_value, parse_headers

KEY = "agi_network_script"

# Lines as a hostile peer might send them: the script key (repeated, without its space, with a
# carriage return, in another key's value), other keys, junk, bytes that are not UTF-8.
line = st.one_of(
    st.builds(
        lambda v: f"{KEY}: {v}".encode(),
        st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\n"), max_size=30),
    ),
    st.sampled_from(
        [
            b"agi_network_script: screen?secret=right-secret-0000\r",
            b"agi_network_script:screen?secret=x",
            b"agi_network_script: ",
            b"agi_callerid: agi_network_script: screen?secret=x",
            b" agi_network_script: screen",
            b"agi_network_script: \xff\xfe?secret=\xc3",
            b"agi_channel: PJSIP/trunk-1",
            b"\r",
            b"",
        ]
    ),
    st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"")),
)


@settings(max_examples=3000, deadline=None)
@given(st.lists(line, min_size=1, max_size=8))
def test_the_raw_script_is_the_one_the_parse_keeps(lines):
    block = b"\n".join(lines)
    headers, _ = parse_headers(block)
    raw = header_value(block, KEY.encode())
    assert (None if raw is None else raw.decode("utf-8", "replace")) == headers.get(KEY)


def test_the_first_of_two_script_lines_is_the_one_read():
    block = b"agi_network: yes\nagi_network_script: screen?secret=a\r\nagi_network_script: screen?secret=b"
    assert header_value(block, KEY.encode()) == b"screen?secret=a"
    assert header_value(b"agi_network: yes", KEY.encode()) is None
