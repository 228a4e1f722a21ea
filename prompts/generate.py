#!/usr/bin/env python3
"""Synthesises the line's prompts from their text manifests.

Owns: turning every `prompts/<lang>/*.toml` manifest into
`prompts/<lang>/<id>.wav` (espeak-ng, then sox to 8 kHz mono 16-bit PCM),
the `prompts/<lang>/.hashes` record of what each WAV was made from, and the
removal of WAVs that no manifest names any more.

Must never: touch anything outside `prompts/`, regenerate a WAV whose text,
voice and processing did not change (the committed files stay byte-stable),
or carry on silently when a tool is missing or a manifest is wrong.

Manifest format (see prompts/README.md):

    [prompts]
    welcome = "Benvingut al zero u dos..."          # said with the folder's voice
    choose-language = [                            # pieces in other voices, joined
      { text = "Per continuar en català, premi 1." },
      { voice = "es", text = "Para español, pulse 2." },
    ]

Usage: prompts/generate.py [--check] [--force] [LANG...]
  --check   change nothing; exit 1 if any WAV is missing, stale or orphaned
  --force   regenerate every WAV
  LANG      only these language folders (default: every folder with a manifest)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent

# espeak-ng voice for each language folder. espeak-ng 1.51 (Debian 12) has no
# Occitan voice: Aranese is read with the Catalan one, whose spelling rules
# are the closest (see README.md).
VOICES = {"ca": "ca", "es": "es", "en": "en-gb", "oc": "ca"}
SPEED_WPM = 150
# Everything that shapes the audio besides the text; part of each hash so
# that changing the chain regenerates every file.
SOX_EFFECTS = ["gain", "-n", "-3", "rate", "-h", "8000"]
SEGMENT_GAP_SECS = "0.35"
CHAIN = f"espeak-ng -s {SPEED_WPM} | sox -D {' '.join(SOX_EFFECTS)} -c 1 -b 16 | gap {SEGMENT_GAP_SECS}"

# At most this many out-of-date files are listed by --check.
SHOWN = 20
ID_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
HASHES = ".hashes"
# Manifests whose ids may differ between languages (see missing_across).
PER_LANGUAGE_MANIFESTS = {"say.toml"}


class ManifestError(Exception):
    pass


@dataclass(frozen=True)
class Segment:
    voice: str
    text: str


@dataclass(frozen=True)
class Entry:
    id: str
    segments: tuple[Segment, ...]
    manifest: Path

    def digest(self) -> str:
        h = hashlib.sha256(CHAIN.encode())
        for s in self.segments:
            h.update(b"\0" + s.voice.encode() + b"\0" + s.text.encode())
        return h.hexdigest()[:16]


def parse_manifest(path: Path, default_voice: str) -> list[Entry]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ManifestError(f"{path}: {e}") from e
    table = data.get("prompts")
    if not isinstance(table, dict):
        raise ManifestError(f"{path}: no [prompts] table")
    entries = []
    for pid, value in table.items():
        where = f"{path}: prompt `{pid}`"
        if not ID_RE.match(pid):
            raise ManifestError(f"{where}: ids are lowercase letters and digits joined by '-'")
        if isinstance(value, str):
            raw = [{"text": value}]
        elif isinstance(value, list):
            raw = value
        else:
            raise ManifestError(f"{where}: expected a text or a list of {{ text, voice }} pieces")
        segments = []
        for piece in raw:
            if not isinstance(piece, dict) or not isinstance(piece.get("text"), str):
                raise ManifestError(f"{where}: each piece needs a `text` string")
            unknown = set(piece) - {"text", "voice"}
            if unknown:
                raise ManifestError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
            voice = piece.get("voice", default_voice)
            if not isinstance(voice, str) or not voice:
                raise ManifestError(f"{where}: `voice` must be an espeak-ng voice name")
            text = " ".join(piece["text"].split())
            if not text:
                raise ManifestError(f"{where}: empty text")
            segments.append(Segment(voice, text))
        if not segments:
            raise ManifestError(f"{where}: no text")
        entries.append(Entry(pid, tuple(segments), path))
    return entries


def load_language(folder: Path) -> dict[str, Entry]:
    lang = folder.name
    voice = VOICES.get(lang)
    if voice is None:
        raise ManifestError(f"{folder}: no espeak-ng voice configured for `{lang}` (VOICES in {Path(__file__).name})")
    entries: dict[str, Entry] = {}
    for manifest in sorted(folder.glob("*.toml")):
        for entry in parse_manifest(manifest, voice):
            if entry.id in entries:
                raise ManifestError(
                    f"{manifest}: prompt `{entry.id}` is already defined in {entries[entry.id].manifest.name}"
                )
            entries[entry.id] = entry
    return entries


def read_hashes(folder: Path) -> dict[str, str]:
    path = folder / HASHES
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 2:
            out[parts[0]] = parts[1]
    return out


def write_hashes(folder: Path, hashes: dict[str, str]) -> None:
    text = "".join(f"{pid} {digest}\n" for pid, digest in sorted(hashes.items()))
    (folder / HASHES).write_text(text, encoding="utf-8")


def require_tools() -> None:
    missing = [t for t in ("espeak-ng", "sox") if shutil.which(t) is None]
    if missing:
        sys.exit(f"generate.py: missing {', '.join(missing)}: apt-get install -y espeak-ng sox")
    voices = subprocess.run(["espeak-ng", "--voices"], capture_output=True, text=True, check=True).stdout
    known = {line.split()[1] for line in voices.splitlines()[1:] if len(line.split()) > 1}
    absent = sorted({v for v in VOICES.values() if v not in known})
    if absent:
        sys.exit(f"generate.py: espeak-ng has no voice {', '.join(absent)}")


def run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} ... failed ({done.returncode}): {done.stderr.strip()}")


def synthesise(entry: Entry, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="prompts-") as tmp:
        pieces = []
        for i, seg in enumerate(entry.segments):
            text_file = Path(tmp) / f"{i}.txt"
            text_file.write_text(seg.text, encoding="utf-8")
            raw = Path(tmp) / f"{i}.wav"
            run(["espeak-ng", "-v", seg.voice, "-s", str(SPEED_WPM), "-f", str(text_file), "-w", str(raw)])
            pieces.append(str(raw))
        joined = pieces
        if len(pieces) > 1:
            gap = Path(tmp) / "gap.wav"
            run(["sox", "-D", "-n", "-r", "22050", "-c", "1", "-b", "16", str(gap), "trim", "0", SEGMENT_GAP_SECS])
            joined = [p for piece in pieces for p in (piece, str(gap))][:-1]
        staged = Path(tmp) / "out.wav"
        run(["sox", "-D", *joined, "-c", "1", "-b", "16", "-e", "signed-integer", str(staged), *SOX_EFFECTS])
        shutil.move(staged, out)


def process(folder: Path, check: bool, force: bool) -> list[str]:
    """Brings one language folder up to date; returns what is (or would be) changed."""
    entries = load_language(folder)
    hashes = read_hashes(folder)
    changes = []
    for pid, entry in sorted(entries.items()):
        wav = folder / f"{pid}.wav"
        digest = entry.digest()
        if not force and wav.exists() and hashes.get(pid) == digest:
            continue
        changes.append(f"{folder.name}/{pid}.wav: {'missing' if not wav.exists() else 'stale'}")
        if not check:
            synthesise(entry, wav)
            hashes[pid] = digest
            write_hashes(folder, {k: v for k, v in hashes.items() if k in entries})
            print(f"  made {folder.name}/{pid}.wav", flush=True)
    for wav in sorted(folder.glob("*.wav")):
        if wav.stem not in entries:
            changes.append(f"{folder.name}/{wav.name}: no manifest names it")
            if not check:
                wav.unlink()
                print(f"  removed {folder.name}/{wav.name}")
    if not check:
        write_hashes(folder, {k: v for k, v in hashes.items() if k in entries})
    return changes


def missing_across(folders: list[Path]) -> list[str]:
    """Ids a same-named manifest defines in one folder and not in another.

    Prompts are played by id in whichever language the call speaks, so each
    flow manifest must define the same ids everywhere. `say.toml` files are
    exempt: the pieces a number is built from differ by language ("vint-i-un"
    needs a masculine form, "twenty-one" does not), and `ivr check` verifies
    them against the say module's own per-language list.
    """
    by_manifest: dict[str, dict[str, set[str]]] = {}
    for folder in folders:
        for entry in load_language(folder).values():
            if entry.manifest.name in PER_LANGUAGE_MANIFESTS:
                continue
            by_manifest.setdefault(entry.manifest.name, {f.name: set() for f in folders})[folder.name].add(entry.id)
    gaps = []
    for manifest, ids in sorted(by_manifest.items()):
        every = set().union(*ids.values())
        gaps += [f"{lang}/{manifest}: no {pid}" for lang, have in sorted(ids.items()) for pid in sorted(every - have)]
    return gaps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything is out of date")
    parser.add_argument("--force", action="store_true", help="regenerate every WAV")
    parser.add_argument("langs", nargs="*", help="language folders (default: all)")
    args = parser.parse_args()

    folders = sorted(p.parent for p in ROOT.glob("*/*.toml"))
    folders = sorted(set(folders))
    if args.langs:
        unknown = [lang for lang in args.langs if not (ROOT / lang).is_dir()]
        if unknown:
            sys.exit(f"generate.py: no folder prompts/{', prompts/'.join(unknown)}")
        folders = [ROOT / lang for lang in args.langs]
    if not args.check:
        require_tools()

    try:
        changes = []
        for folder in folders:
            if not args.check:
                print(f"{folder.name}:", flush=True)
            changes += process(folder, args.check, args.force)
        gaps = missing_across(folders)
    except (ManifestError, RuntimeError) as e:
        sys.exit(f"generate.py: {e}")
    for gap in gaps:
        print(f"warning: {gap} (every prompt a dialplan uses must exist in each of its languages)", file=sys.stderr)
    if args.check:
        for change in changes[:SHOWN]:
            print(f"out of date: {change}", file=sys.stderr)
        if len(changes) > SHOWN:
            print(f"... and {len(changes) - SHOWN} more: run prompts/generate.py", file=sys.stderr)
        return 1 if changes or gaps else 0
    print(f"{len(changes)} change(s)")
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
