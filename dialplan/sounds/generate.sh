#!/usr/bin/env bash
# Regenerate the synthetic prompts from prompts.tsv with espeak-ng and sox
# (apt-get install espeak-ng sox), and the agent's tone tones/not-logged.wav with sox.
# Output: <language>/<name>.wav, 8 kHz mono 16-bit PCM,
# the format Asterisk's format_wav plays without transcoding.
# To use recorded prompts instead, put your own 8 kHz mono WAV files with the same names in
# the same folders (or in Asterisk's sounds folder, see dialplan/README.md); nothing else changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
while IFS=$'\t' read -r lang name text; do
  [[ -z "$lang" || "$lang" == \#* ]] && continue
  mkdir -p "$here/$lang"
  espeak-ng -v "$lang" -s 165 -w "$tmp/raw.wav" "$text"
  sox "$tmp/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$here/$lang/$name.wav" norm -3
  echo "$lang/$name.wav"
done < "$here/prompts.tsv"
# The agent's "not logged" tone: two low tones, falling (480 Hz, then 360 Hz), unlike the
# single high beep that confirms a logged incident.
mkdir -p "$here/tones"
sox -n -r 8000 -c 1 -b 16 -e signed-integer "$tmp/hi.wav" synth 0.25 sine 480 fade 0.02 0.25 0.05 pad 0 0.12
sox -n -r 8000 -c 1 -b 16 -e signed-integer "$tmp/lo.wav" synth 0.35 sine 360 fade 0.02 0.35 0.08
sox "$tmp/hi.wav" "$tmp/lo.wav" "$here/tones/not-logged.wav" norm -3
echo "tones/not-logged.wav"
# The "nothing to log" tone of the after-call codes: three short tones at one pitch (620 Hz).
sox -n -r 8000 -c 1 -b 16 -e signed-integer "$tmp/n.wav" synth 0.12 sine 620 fade 0.01 0.12 0.02 pad 0 0.1
sox "$tmp/n.wav" "$tmp/n.wav" "$tmp/n.wav" "$here/tones/nothing-to-log.wav" norm -3
echo "tones/nothing-to-log.wav"
