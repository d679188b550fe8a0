"""Every log line is one JSON object and no full phone number reaches it, third-party lines included."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import time
from datetime import UTC, datetime

import pytest
import structlog
import structlog.testing
from hypothesis import given
from hypothesis import strategies as st
from panoramisk import Manager

from agi import logs

NUMBER = "+31661777000"
DIGITS = "661777000"  # in neither +31661777000 nor 0661777000 may this survive


def scrub(text: str, enabled: bool = True) -> str:
    return logs.masker(enabled)(None, "info", {"event": text})["event"]


@pytest.mark.parametrize(
    "text,masked",
    [
        ("Caller: +31661777000\r\nUniqueid: 1763800000.12\r\n", "Caller: +316****7000\r\nUniqueid: 1763800000.12\r\n"),
        ("call from 0661777000.", "call from +316****7000."),
        ("06-61777000 or +31 6 6177 7000", "+316****7000 or +316****7000"),
        ("0031661777000", "+316****7000"),
        ("Local/0661777000@grenswacht-00000001;1", "Local/+316****7000@grenswacht-00000001;1"),
        ("PJSIP/0661777000-0000001a", "PJSIP/+316****7000-0000001a"),
        ("+442079460958", "+442****0958"),
    ],
)
def test_numbers_are_masked_in_the_service_style(text, masked):
    assert scrub(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "1763800000.12",
        "linkedid 1763800000.1234567",
        "2026-11-23T11:20:00.123456Z",
        "2026-11-23 11:20:00Z",
        "2026-11-23",
        "23-11-2026",
        "127.0.0.1:4573",
        "[::1]:4573",
        "6b04179a2bbb",
        "took 123 ms",
        "4573",
    ],
)
def test_ids_times_and_addresses_survive(text):
    assert scrub(text) == text


def test_secrets_are_blanked_even_with_masking_off():
    text = "Action: Login\r\nUsername: gw\r\nSecret: hunter2\r\n screen?secret=s3cr3t&x=1 {'password': 'pw'}"
    for enabled in (True, False):
        out = scrub(text, enabled)
        assert "hunter2" not in out and "s3cr3t" not in out and "'pw'" not in out and "Secret: ****" in out
    assert scrub(NUMBER, enabled=False) == NUMBER


@given(
    st.from_regex(r"\+31 ?6[ -]?[1-9][0-9]{3} ?[0-9]{4}", fullmatch=True),
    st.text(alphabet="abc xyz:=,/\n", max_size=20),
    st.text(alphabet="abc xyz:=,/\n", max_size=20),
)
def test_a_number_anywhere_in_a_text_is_masked(number, before, after):
    out = scrub(f"{before} {number} {after}")
    digits = re.sub(r"[ -]", "", number)
    assert digits not in re.sub(r"[ -]", "", out) and f"{digits[:4]}****{digits[-4:]}" in out


@pytest.fixture
def log_stream():
    """logs.configure into a buffer; the logging set-up of the test session is restored afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, structlog.get_config()
    stream = io.StringIO()
    yield stream
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    structlog.configure(**saved[2])
    logging.captureWarnings(False)


def json_lines(stream: io.StringIO) -> list[dict]:
    text = stream.getvalue()
    assert DIGITS not in text
    lines = text.splitlines()
    assert lines
    return [json.loads(line) for line in lines]  # every line is one JSON object


def test_our_events_and_stdlib_records_are_one_masked_json_line_each(log_stream):
    logs.configure("INFO", log_stream, mask=True)
    structlog.get_logger("grenswacht.test").info(
        "screened 0661777000\nsecond line", caller=NUMBER, uniqueid="1763800000.12", nested={"numbers": [NUMBER]}
    )
    logging.getLogger("redis.test").warning("lost %s\nand more", NUMBER)
    try:
        raise ValueError(f"bad caller {NUMBER}")
    except ValueError:
        logging.getLogger("asyncio").exception("Task exception was never retrieved")
    ours, redis_line, asyncio_line = json_lines(log_stream)
    assert ours["event"] == "screened +316****7000\nsecond line" and ours["caller"] == "+316****7000"
    assert ours["uniqueid"] == "1763800000.12" and ours["nested"] == {"numbers": ["+316****7000"]}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", ours["timestamp"])
    assert (redis_line["logger"], redis_line["level"], redis_line["event"]) == (
        "redis.test",
        "warning",
        "lost +316****7000\nand more",
    )
    assert asyncio_line["logger"] == "asyncio" and "ValueError: bad caller +316****7000" in asyncio_line["exception"]


def test_a_module_logger_follows_each_new_configuration(log_stream):
    """get_logger keeps its bound logger between lines: a new configuration (a reload turning
    masking off, another stream, a test's capture_logs) must still reach it."""
    log = logs.get_logger("grenswacht.test")
    logs.configure("INFO", log_stream, mask=True)
    log.info("first", caller=NUMBER)
    logs.configure("INFO", log_stream, mask=False)
    log.info("second", caller=NUMBER)
    with structlog.testing.capture_logs() as captured:
        log.warning("third", caller=NUMBER)
    later = io.StringIO()
    logs.configure("INFO", later, mask=True)
    log.info("fourth", caller=NUMBER)
    first, second = (json.loads(line) for line in log_stream.getvalue().splitlines())
    assert (first["event"], first["caller"]) == ("first", "+316****7000")
    assert (second["event"], second["caller"]) == ("second", NUMBER)
    assert [(c["event"], c["caller"]) for c in captured] == [("third", NUMBER)]
    assert json.loads(later.getvalue())["caller"] == "+316****7000"


def test_the_time_stamp_is_utc_to_the_microsecond(log_stream):
    logs.configure("INFO", log_stream, mask=True)
    before = time.time()
    logs.get_logger("grenswacht.test").info("now")
    after = time.time()
    stamp = json.loads(log_stream.getvalue())["timestamp"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
    at = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
    assert before - 1e-6 <= at <= after + 1e-6


def test_masking_off_keeps_numbers(log_stream):
    logs.configure("INFO", log_stream, mask=False)
    logging.getLogger("panoramisk.test").info("Caller: %s", NUMBER)
    assert json.loads(log_stream.getvalue())["event"] == f"Caller: {NUMBER}"


async def read_message(reader: asyncio.StreamReader) -> dict[str, str]:
    block = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return dict(line.split(": ", 1) for line in block.decode().strip().split("\r\n"))


async def test_panoramisk_lines_are_json_and_masked(log_stream):
    """A real panoramisk Manager against a tiny AMI server: an event and a lost action carry a number."""
    logs.configure("DEBUG", log_stream, mask=True)
    received: list[dict] = []
    served = asyncio.Event()

    async def fake_ami(reader, writer):
        writer.write(b"Asterisk Call Manager/6.0.0\r\n")
        login = await read_message(reader)
        writer.write(
            f"Response: Success\r\nActionID: {login['ActionID']}\r\nMessage: Authentication accepted\r\n\r\n".encode()
        )
        writer.write(
            b"Event: Newchannel\r\nChannel: PJSIP/trunk-00000001\r\nCallerIDNum: 0661777000\r\n"
            b"Uniqueid: 1763800000.12\r\n\r\n"
        )
        received.append(await read_message(reader))  # the UserEvent: never answered, the line drops
        writer.close()
        served.set()

    server = await asyncio.start_server(fake_ami, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    logged_in = asyncio.Event()
    manager = Manager(
        host="127.0.0.1",
        port=port,
        username="gw",
        secret="hunter2",
        ping_delay=3600,
        reconnect_timeout=3600,
        loop=asyncio.get_running_loop(),
        on_login=lambda m: logged_in.set(),
    )
    try:
        manager.connect()
        manager.connect = lambda *a, **k: None  # one connection only: no reconnect after the drop
        await asyncio.wait_for(logged_in.wait(), 5)
        manager.send_action({"Action": "UserEvent", "UserEvent": "GrenswachtIncident", "Caller": NUMBER})
        await asyncio.wait_for(served.wait(), 5)
        async with asyncio.timeout(5):
            while not manager.awaiting_actions:  # panoramisk logs the lost action as it re-queues it
                await asyncio.sleep(0.01)
    finally:
        manager.close()
        server.close()
        await server.wait_closed()
    assert received[0]["Caller"] == NUMBER  # the number really went over the wire
    lines = json_lines(log_stream)
    panoramisk = [line for line in lines if line.get("logger", "").startswith("panoramisk")]
    assert any("1763800000.12" in line["event"] and "+316****7000" in line["event"] for line in panoramisk)
    [requeued] = [line for line in panoramisk if "awaiting list" in line["event"]]
    assert "\r\nCaller: +316****7000\r\n" in requeued["event"]
    assert "hunter2" not in log_stream.getvalue()


def test_panoramisk_retry_noise_is_dropped_its_other_lines_pass(log_stream):
    logs.configure("INFO", log_stream)
    manager_log = logging.getLogger("panoramisk.manager")
    for _ in range(5):
        manager_log.error("Connection lost")
        manager_log.info("Try to connect again in %d second(s)", 1)
    manager_log.warning("Something else")
    assert [json.loads(line)["event"] for line in log_stream.getvalue().splitlines()] == ["Something else"]


@given(st.from_regex(r"\A[0-9]{1,20}\.[0-9]{1,20}\Z"))
def test_a_uniqueid_shape_is_left_alone_as_the_number_pattern_leaves_it(value):
    """The masker's shortcut for digits-dot-digits must agree with the full pattern."""
    process = logs.masker(True, "NL")
    assert process(None, "info", {"uniqueid": value})["uniqueid"] == value
    assert (
        logs._NUMBER.sub(
            lambda m: "MASKED" if len(m.group().replace(" ", "").replace("-", "").lstrip("+")) >= 8 else m.group(),
            value,
        )
        == value
    )


@pytest.mark.parametrize(
    "value, masked",
    [("0661777000.", "+316****7000."), ("0661777000..5", "+316****7000..5"), ("a 0661777000.", "a +316****7000.")],
)
def test_near_uniqueid_shapes_still_go_through_the_number_pattern(value, masked):
    assert logs.masker(True, "NL")(None, "info", {"v": value})["v"] == masked
