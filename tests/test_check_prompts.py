"""`grenswacht check` verifies every sound the dialplan plays (issue 28's `warning-recorded`, the
after-call codes' `nothing-to-log` tone, ...), in a format Asterisk plays."""

from __future__ import annotations

import re
import shutil
import wave
from pathlib import Path

from agi.cli.check_cmds import PROMPTS, TONES, missing_prompts
from tests.test_check import SOUNDS, check, durable_redis, lines  # noqa: F401  (durable_redis: a fixture)
from tests.test_dialplan_static import dialplan_lines

# Asterisk's own sounds the dialplan plays (the stock sounds package, not ours).
STOCK = {"beep"}
# callback-${GW_CB_DAY}: the day read back is one of these.
DAYS = ("today", "tomorrow")


def played_sounds() -> set[str]:
    """Every sound file any step of the dialplan plays (Playback, Background, Read, ControlPlayback)."""
    out: set[str] = set()
    for line in dialplan_lines():
        for app, args in re.findall(r"\b(Playback|Background|BackGround|ControlPlayback|Read)\((.*)\)", line):
            files = args.split(",")[1 if app == "Read" else 0]
            out |= set(files.split("&"))
    return out


def test_check_verifies_every_sound_the_dialplan_plays():
    prompts, tones, stock = set(), set(), set()
    for sound in played_sounds():
        folder, _, name = sound.rpartition("/")
        if folder.endswith("grenswacht/tones"):
            tones.add(name)
        elif "GW_PROMPTS" in folder:
            prompts |= {name.replace("${GW_CB_DAY}", day) for day in DAYS} if "${" in name else {name}
        else:
            stock.add(sound)
    assert {"warning-recorded", "unavailable", "callback-today"} <= prompts  # the parse found them
    assert prompts == set(PROMPTS), "a prompt the dialplan plays that `check` does not verify, or the reverse"
    assert tones == set(TONES) and stock == STOCK
    for lang in ("nl", "en"):  # and what check verifies ships, in a format Asterisk plays
        assert missing_prompts(SOUNDS / lang) == [], lang
    assert missing_prompts(SOUNDS / "tones", TONES) == []


def write_wav(path: Path, rate: int, channels: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(b"\x01\x00" * channels * rate)


def test_check_fails_naming_a_missing_or_unplayable_prompt_or_tone(tmp_path, durable_redis):  # noqa: F811
    sounds = tmp_path / "sounds"
    for folder in ("nl", "tones"):
        shutil.copytree(SOUNDS / folder, sounds / folder)
    extra = f'[prompts]\npath = "{sounds}"\nlanguage = "nl"\n'
    out = check(tmp_path, durable_redis.url, extra=extra)
    assert out.returncode == 0, out.stderr
    assert lines(out)[-1] == f"ok       prompts: all 16 in {sounds / 'nl'}, and the 2 tones in {sounds / 'tones'}"

    (sounds / "nl" / "warning-recorded.wav").unlink()
    out = check(tmp_path, durable_redis.url, extra=extra)
    assert out.returncode == 2 and out.stderr == (
        f"grenswacht: the prompts folder {sounds / 'nl'} lacks warning-recorded; copy dialplan/sounds/nl and "
        "dialplan/sounds/tones there (see dialplan/README.md), or give --sounds-dir if Asterisk's sounds are "
        "elsewhere on this machine.\n"
    )
    # Another format Asterisk plays will do (GSM here), a WAV it refuses will not.
    (sounds / "nl" / "warning-recorded.gsm").write_bytes(b"\xd8" * 33 * 50)
    write_wav(sounds / "nl" / "unavailable.wav", 16000, 2)
    (sounds / "tones" / "nothing-to-log.wav").unlink()
    out = check(tmp_path, durable_redis.url, extra=extra)
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1
    assert out.stderr.startswith(
        f"grenswacht: the prompts folder {sounds / 'nl'} lacks unavailable (unavailable.wav is not 8 kHz mono "
        f"16-bit PCM), and the tones folder {sounds / 'tones'} lacks nothing-to-log; copy "
    )
    write_wav(sounds / "nl" / "unavailable.wav", 8000, 1)
    (sounds / "tones" / "nothing-to-log.mp3").write_bytes(b"ID3")
    out = check(tmp_path, durable_redis.url, extra=extra)
    assert out.returncode == 2
    assert f"the tones folder {sounds / 'tones'} lacks nothing-to-log (Asterisk plays no .mp3 file);" in out.stderr
