#!/usr/bin/env python3
"""Specification of prompts/generate.py, run on scratch language folders.

Run: python3 prompts/test_generate.py   (needs espeak-ng and sox installed)
"""

from __future__ import annotations

import os
import sys
import tempfile
import unittest
import wave
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate  # noqa: E402


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


class Scratch(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name)
        self.ca = self.root / "ca"

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def run_folder(self, folder: Path, check: bool = False) -> list[str]:
        with mock.patch("builtins.print"):
            return generate.process(folder, check=check, force=False)


class Generating(Scratch):
    def test_each_id_becomes_an_8_khz_mono_16_bit_pcm_wav_with_its_hash_recorded(self) -> None:
        write(self.ca / "012.toml", '[prompts]\nwelcome = "Benvingut."\ngoodbye = "Adéu."\n')
        changes = self.run_folder(self.ca)
        self.assertEqual(changes, ["ca/goodbye.wav: missing", "ca/welcome.wav: missing"])
        for pid in ("welcome", "goodbye"):
            with wave.open(str(self.ca / f"{pid}.wav")) as w:
                self.assertEqual((w.getframerate(), w.getnchannels(), w.getsampwidth()), (8000, 1, 2))
                self.assertGreater(w.getnframes() / 8000, 0.3, "a spoken word lasts more than 0.3 s")
        hashes = generate.read_hashes(self.ca)
        self.assertEqual(sorted(hashes), ["goodbye", "welcome"])

    def test_a_second_run_changes_nothing_and_leaves_the_files_untouched(self) -> None:
        write(self.ca / "012.toml", '[prompts]\nwelcome = "Benvingut."\n')
        self.run_folder(self.ca)
        before = (self.ca / "welcome.wav").stat().st_mtime_ns
        self.assertEqual(self.run_folder(self.ca), [])
        self.assertEqual((self.ca / "welcome.wav").stat().st_mtime_ns, before)

    def test_output_is_byte_for_byte_reproducible(self) -> None:
        write(self.ca / "012.toml", '[prompts]\nmenu = [{ text = "Premi 1." }, { voice = "es", text = "Pulse 2." }]\n')
        self.run_folder(self.ca)
        first = (self.ca / "menu.wav").read_bytes()
        with mock.patch("builtins.print"):
            generate.process(self.ca, check=False, force=True)
        self.assertEqual((self.ca / "menu.wav").read_bytes(), first)

    def test_a_changed_text_regenerates_only_that_prompt(self) -> None:
        write(self.ca / "012.toml", '[prompts]\nwelcome = "Benvingut."\ngoodbye = "Adéu."\n')
        self.run_folder(self.ca)
        kept = (self.ca / "goodbye.wav").stat().st_mtime_ns
        write(self.ca / "012.toml", '[prompts]\nwelcome = "Benvinguda."\ngoodbye = "Adéu."\n')
        self.assertEqual(self.run_folder(self.ca), ["ca/welcome.wav: stale"])
        self.assertEqual((self.ca / "goodbye.wav").stat().st_mtime_ns, kept)

    def test_a_wav_no_manifest_names_is_removed_with_its_hash(self) -> None:
        write(self.ca / "012.toml", '[prompts]\nwelcome = "Benvingut."\nold = "Vell."\n')
        self.run_folder(self.ca)
        write(self.ca / "012.toml", '[prompts]\nwelcome = "Benvingut."\n')
        self.assertEqual(self.run_folder(self.ca), ["ca/old.wav: no manifest names it"])
        self.assertFalse((self.ca / "old.wav").exists())
        self.assertNotIn("old", generate.read_hashes(self.ca))

    def test_check_reports_what_is_out_of_date_and_changes_nothing(self) -> None:
        write(self.ca / "012.toml", '[prompts]\nwelcome = "Benvingut."\n')
        write(self.ca / "stray.wav", "not audio")
        changes = self.run_folder(self.ca, check=True)
        self.assertEqual(changes, ["ca/welcome.wav: missing", "ca/stray.wav: no manifest names it"])
        self.assertFalse((self.ca / "welcome.wav").exists())
        self.assertTrue((self.ca / "stray.wav").exists())


class Manifests(Scratch):
    def error_of(self, text: str, other: str | None = None) -> str:
        write(self.ca / "012.toml", text)
        if other is not None:
            write(self.ca / "say.toml", other)
        with self.assertRaises(generate.ManifestError) as caught:
            generate.load_language(self.ca)
        return str(caught.exception)

    def test_an_id_defined_in_two_manifests_of_one_language_is_refused(self) -> None:
        message = self.error_of('[prompts]\ndigit-1 = "u"\n', '[prompts]\ndigit-1 = "un"\n')
        self.assertTrue(message.endswith("say.toml: prompt `digit-1` is already defined in 012.toml"), message)

    def test_a_manifest_without_a_prompts_table_is_refused(self) -> None:
        self.assertIn("012.toml: no [prompts] table", self.error_of('welcome = "Hola"\n'))

    def test_ids_are_lowercase_words_joined_by_dashes(self) -> None:
        message = self.error_of('[prompts]\nWelcome_1 = "Hola"\n')
        self.assertIn("prompt `Welcome_1`: ids are lowercase letters and digits joined by '-'", message)

    def test_pieces_need_text_and_know_only_text_and_voice(self) -> None:
        self.assertIn("each piece needs a `text` string", self.error_of('[prompts]\na = [{ voice = "es" }]\n'))
        self.assertIn("unknown key(s) speed", self.error_of('[prompts]\na = [{ text = "x", speed = 1 }]\n'))

    def test_empty_text_and_broken_toml_are_refused(self) -> None:
        self.assertIn("prompt `a`: empty text", self.error_of('[prompts]\na = "  "\n'))
        self.assertIn("012.toml:", self.error_of('[prompts\n'))

    def test_a_folder_without_a_configured_voice_is_refused(self) -> None:
        write(self.root / "xx" / "012.toml", '[prompts]\na = "b"\n')
        with self.assertRaises(generate.ManifestError) as caught:
            generate.load_language(self.root / "xx")
        self.assertIn("no espeak-ng voice configured for `xx`", str(caught.exception))

    def test_pieces_take_the_folder_voice_unless_they_name_one(self) -> None:
        write(self.ca / "012.toml", '[prompts]\nm = [{ text = "Premi 1." }, { voice = "es", text = "Pulse  2." }]\n')
        entry = generate.load_language(self.ca)["m"]
        self.assertEqual(entry.segments, (generate.Segment("ca", "Premi 1."), generate.Segment("es", "Pulse 2.")))

    def test_an_id_missing_in_another_language_is_named(self) -> None:
        write(self.ca / "012.toml", '[prompts]\nwelcome = "Benvingut."\nmenu = "Premi 1."\n')
        write(self.root / "es" / "012.toml", '[prompts]\nwelcome = "Bienvenido."\n')
        self.assertEqual(generate.missing_across([self.ca, self.root / "es"]), ["es/012.toml: no menu"])

    def test_spoken_number_pieces_may_differ_between_languages(self) -> None:
        write(self.ca / "say.toml", '[prompts]\nnum-21 = "vint-i-u"\nnum-21-m = "vint-i-un"\n')
        write(self.root / "en" / "say.toml", '[prompts]\nnum-21 = "twenty-one"\n')
        self.assertEqual(generate.missing_across([self.ca, self.root / "en"]), [])


class Tools(unittest.TestCase):
    def test_a_missing_synthesiser_stops_the_run_with_the_install_command(self) -> None:
        with mock.patch.dict(os.environ, {"PATH": tempfile.gettempdir()}):
            with self.assertRaises(SystemExit) as caught:
                generate.require_tools()
        self.assertEqual(str(caught.exception), "generate.py: missing espeak-ng, sox: apt-get install -y espeak-ng sox")


class Repository(unittest.TestCase):
    def test_the_committed_wavs_match_the_manifests_in_every_language(self) -> None:
        folders = sorted({p.parent for p in generate.ROOT.glob("*/*.toml")})
        self.assertEqual([f.name for f in folders], ["ca", "en", "es", "oc"])
        changes = []
        for folder in folders:
            changes += generate.process(folder, check=True, force=False)
        self.assertEqual(changes, [], "run prompts/generate.py and commit the result")
        self.assertEqual(generate.missing_across(folders), [])


if __name__ == "__main__":
    unittest.main()
