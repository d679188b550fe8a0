#!/usr/bin/env python3
"""Write the console's alert sound, console/static/alert.wav (issue 30): a short two-tone chime,
made here from sine waves with the standard library, so nothing is downloaded at install.
Run it again after changing it; tests/console/test_alerts.py checks the file matches.

    python3 scripts/alert_sound.py [PATH]
"""

from __future__ import annotations

import io
import math
import struct
import sys
import wave
from pathlib import Path

RATE = 16_000  # samples per second: plenty for a chime, and a small file
TONES = ((880.0, 0.16), (1320.0, 0.24))  # (Hz, seconds): up a fifth, a familiar "new item" sound
VOLUME = 0.5
OUT = Path(__file__).resolve().parents[1] / "console" / "static" / "alert.wav"


def samples() -> list[int]:
    out: list[int] = []
    for freq, seconds in TONES:
        n = int(RATE * seconds)
        for i in range(n):
            envelope = min(1.0, i / (0.01 * RATE)) * (1 - i / n) ** 2  # a soft start, a bell-like fade
            out.append(round(32767 * VOLUME * envelope * math.sin(2 * math.pi * freq * i / RATE)))
    return out


def wav_bytes() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        data = samples()
        w.writeframes(struct.pack(f"<{len(data)}h", *data))
    return buf.getvalue()


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else OUT
    path.write_bytes(wav_bytes())
    print(f"alert sound: {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
