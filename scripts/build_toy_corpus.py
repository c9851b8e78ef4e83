#!/usr/bin/env python3
"""Rebuild the embedded toy speech corpus in ``metric/assets/toy_corpus/`` from Debian packages.

The toy corpus is the default data of the recipes and of the tests: a few minutes of real recorded
speech, split by speaker, at 16 kHz (enhancement) and 22,050 Hz (vocoder / CDPAM input rate), plus a
parallel noisy/clean set for speech enhancement. Everything here is deterministic (fixed seeds, sorted
file lists), so running the script twice on the same package versions gives byte-identical files.

Sources (Debian 12 "bookworm" packages; install them first)::

    apt-get install -y ffmpeg asterisk-core-sounds-en-g722 asterisk-core-sounds-fr-g722 \\
        asterisk-core-sounds-it-g722 asterisk-core-sounds-ru-g722 pocketsphinx-testdata \\
        codec2-examples alsa-utils asterisk-moh-opsound-g722

==========================  ======================================================  ==============
speaker label               source files (package)                                   license
==========================  ======================================================  ==============
``allison``                 /usr/share/asterisk/sounds/en_US_f_Allison/*.g722       CC-BY-SA-3.0
                            (asterisk-core-sounds-en-g722; recorded by Allison Smith)
``june``                    /usr/share/asterisk/sounds/fr_CA_f_June/*.g722          CC-BY-SA-3.0
                            (asterisk-core-sounds-fr-g722; recorded by June Wallack)
``carlo``                   /usr/share/asterisk/sounds/it_IT_m_Carlo/*.g722         CC-BY-3.0
                            (asterisk-core-sounds-it-g722; recorded by Carlo Flora)
``ivrvoice_ru``             /usr/share/asterisk/sounds/ru_RU_f_IvrvoiceRU/*.g722    CC-BY-3.0
                            (asterisk-core-sounds-ru-g722; provided by Maxim Topal,
                            ivrvoice.ru; the female voice is not named)
``librivox_reader``         /usr/share/pocketsphinx/test/data/librivox/*.wav        BSD-2 (package);
                            (pocketsphinx-testdata; LibriVox "Sense and Sensibility"  LibriVox
                            ch. 1 reader)                                            recordings are
                                                                                     public domain
``pocketsphinx_cmu``        /usr/share/pocketsphinx/test/data/{cards/*.wav,          BSD-2
                            goforward.raw,numbers.raw,something.raw}
                            (pocketsphinx-testdata; CMU test recordings)
``codec2_speaker``          /usr/share/codec2/raw/speech_orig_16k.wav               LGPL-2.1
                            (codec2-examples)
``alsa_voice``              /usr/share/sounds/alsa/{Front,Rear,Side}_*.wav          GPL-2
                            (alsa-utils; speaker-test channel names, 48 kHz)
==========================  ======================================================  ==============

How speakers were determined: the Asterisk prompt sets name their voice in the directory
(``en_US_f_Allison`` etc.) and in the package's copyright/CREDITS; those four are distinct, documented
people. (``es_MX_f_Allison`` is the same Allison Smith, so it is not used as another speaker.) The other
four labels are *sources* whose speaker is not documented: each label is one recording source, and two
of them might in principle be the same person. They are therefore all put in the *test* split, so the
by-speaker split holds whatever their true identity. Pitch measurements (median F0: LibriVox ~105 Hz,
pocketsphinx ~108 Hz, codec2 ~211 Hz, ALSA ~190 Hz; Asterisk voices 180-215 Hz) are consistent with
this labelling but prove nothing, which is why the conservative placement was chosen.

Narrow-band material (8 kHz GSM/WAV prompts such as asterisk-prompt-it-menardi, -fr-armelle, -es-co,
and the 8 kHz codec2 clips) is deliberately excluded: an upsampled 8 kHz reference is a poor reference
for 16 kHz enhancement metrics. Note that G.722 is sampled at 16 kHz (passband ~50-7000 Hz), and the
pocketsphinx/codec2 recordings are 16 kHz too, so their 22,050 Hz versions contain nothing above 8 kHz;
only the ALSA clips (48 kHz originals) fill the 22,050 Hz band.

Steps, per source file:

1. Decode to float32 at the native rate (G.722 with ffmpeg at 16 kHz; WAV with soundfile; ``.raw`` as
   16 kHz signed 16-bit little-endian mono, the pocketsphinx convention).
2. Remove DC and rumble: 4th-order Butterworth high-pass at 60 Hz, zero-phase (``sosfiltfilt``).
3. Recordings of the test sources longer than SEGMENT_MAX_SECONDS (LibriVox, codec2, pocketsphinx
   ``numbers.raw``) are cut in the middle of pauses (>= 60 ms of 20 ms frames more than 30 dB below
   the loudest frame) into pieces of at most SEGMENT_MAX_SECONDS; Asterisk prompts are used whole.
4. Trim leading/trailing silence: keep from the first to the last 20 ms frame within 40 dB of the
   loudest frame, plus 100 ms of context on each side, with 10 ms raised-cosine fades.
5. Keep utterances whose trimmed duration is within [MIN_SECONDS, MAX_SECONDS] (prompts) or
   [MIN_SECONDS, SEGMENT_MAX_SECONDS] (pieces); Asterisk prompts whose names denote tones or animal
   noises (beep, *-2tone, tt-monkeys, tt-weasels, ...) are excluded.
6. Pick a fixed number of utterances per speaker (``speakers()``): prompt files are visited in an order
   drawn by ``numpy.random.default_rng(SEED)`` until enough usable ones are found; pieces of segmented
   recordings are drawn with the same generator.
7. Loudness: scale to an active-speech level of -26 dBFS (RMS over frames within 40 dB of the
   loudest frame; a simplified ITU-T P.56), reduced if needed so the peak stays <= -1 dBFS.
8. Resample with ``scipy.signal.resample_poly`` from the native rate to 16,000 Hz and 22,050 Hz (the
   same gain on both) and write mono PCM_16 WAV to
   ``speech/{16k,22k}/{train,valid,test}/<speaker>/<utterance_id>.wav``.

Enhancement set (16 kHz), for every split: ``enhancement/<split>/clean/<id>.wav`` is the same audio as
the speech file, ``enhancement/<split>/noisy/<id>.wav`` = clean + noise, where the noise kind and SNR
cycle (in a seeded order) through NOISE_KINDS x SNRS_DB:

* ``white``, ``pink`` (1/f power), ``brown`` (1/f^2 power, 20 Hz high-pass): Gaussian noise shaped in
  the frequency domain;
* ``babble``: the sum of BABBLE_TALKERS other utterances of the same split, each from another speaker of
  that split when there is one (the single-speaker valid split uses other utterances of the same
  speaker), at random offsets, each normalised to the same level;
* ``music``: music-on-hold recordings from asterisk-moh-opsound-g722 (CC-BY-SA-3.0, by Macroform), a
  recorded, non-speech interference, from a random offset; one track per split (MUSIC_TRACKS).

The noise is scaled so that 10*log10(sum(clean^2) / sum(noise^2)) equals the SNR over the whole
utterance (measured on the quantised PCM_16 clean signal). A ``manifest.csv`` per split lists
``id, speaker, noise_kind, snr_db, duration_s``; ``speech/manifest.csv`` lists every utterance with its
source package and file.

Usage::

    python scripts/build_toy_corpus.py            # writes metric/assets/toy_corpus/
    python scripts/build_toy_corpus.py --out DIR  # elsewhere
"""
from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
import re

import numpy as np
import scipy.signal
import soundfile as sf

from metric.io import read_audio
from metric.resample import resample_array

SEED = 20210606
RATES = (16000, 22050)
RATE_DIRS = {16000: "16k", 22050: "22k"}
SPLITS = ("train", "valid", "test")
MIN_SECONDS = 1.0
MAX_SECONDS = 1.8
SEGMENT_MAX_SECONDS = 3.0
TARGET_LEVEL_DBFS = -26.0
PEAK_LIMIT = 10 ** (-1 / 20)
NOISE_KINDS = ("white", "pink", "brown", "babble", "music")
SNRS_DB = (0.0, 5.0, 10.0, 15.0)
BABBLE_TALKERS = 4

ASTERISK = Path("/usr/share/asterisk/sounds")
POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")
MOH = Path("/usr/share/asterisk/moh")
MUSIC_TRACKS = {"train": "macroform-cold_day", "valid": "macroform-robot_dity", "test": "macroform-the_simplicity"}
# Asterisk prompts that are not speech (tones, animal noises) or are silence.
NON_SPEECH = re.compile(r"(tone|beep|monkeys$|weasels$|silence)")

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "metric" / "assets" / "toy_corpus"


@dataclass
class Speaker:
    """One speaker label: its split, how many utterances to take, and its source files."""

    label: str
    split: str
    count: int
    package: str
    files: list[Path] = field(default_factory=list)
    segment_long: bool = False


def speakers() -> list[Speaker]:
    """The speakers of the corpus and where their audio comes from (see the module docstring)."""
    def g722(voice: str) -> list[Path]:
        return sorted(p for p in (ASTERISK / voice).glob("*.g722") if not NON_SPEECH.search(p.stem))

    alsa = sorted(p for p in Path("/usr/share/sounds/alsa").glob("*.wav") if p.stem != "Noise")
    cmu = sorted((POCKETSPHINX / "cards").glob("*.wav")) + [
        POCKETSPHINX / name for name in ("goforward.raw", "numbers.raw", "something.raw")]
    return [
        Speaker("allison", "train", 20, "asterisk-core-sounds-en-g722", g722("en_US_f_Allison")),
        Speaker("june", "train", 20, "asterisk-core-sounds-fr-g722", g722("fr_CA_f_June")),
        Speaker("carlo", "train", 20, "asterisk-core-sounds-it-g722", g722("it_IT_m_Carlo")),
        Speaker("ivrvoice_ru", "valid", 15, "asterisk-core-sounds-ru-g722", g722("ru_RU_f_IvrvoiceRU")),
        Speaker("librivox_reader", "test", 5, "pocketsphinx-testdata",
                sorted((POCKETSPHINX / "librivox").glob("*.wav")), segment_long=True),
        Speaker("pocketsphinx_cmu", "test", 4, "pocketsphinx-testdata", cmu, segment_long=True),
        Speaker("codec2_speaker", "test", 2, "codec2-examples",
                [Path("/usr/share/codec2/raw/speech_orig_16k.wav")], segment_long=True),
        Speaker("alsa_voice", "test", 4, "alsa-utils", alsa),
    ]


# ----------------------------------------------------------------------------------------- decoding
def decode(path: Path) -> tuple[np.ndarray, int]:
    """Float32 mono samples in [-1, 1] and the native sample rate of one source file."""
    if path.suffix == ".g722":
        pcm = subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "g722", "-i", str(path),
             "-f", "s16le", "-ac", "1", "-ar", "16000", "-"],
            capture_output=True, check=True).stdout
        return np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0, 16000
    if path.suffix == ".raw":  # pocketsphinx test convention: 16 kHz, int16 LE, mono
        return np.fromfile(path, "<i2").astype(np.float32) / 32768.0, 16000
    return read_audio(path, mono=True)


# ------------------------------------------------------------------------------- signal processing
def highpass(audio: np.ndarray, rate: int) -> np.ndarray:
    sos = scipy.signal.butter(4, 60.0, btype="highpass", fs=rate, output="sos")
    return scipy.signal.sosfiltfilt(sos, audio).astype(np.float32)


def frame_levels_db(audio: np.ndarray, rate: int, frame_seconds: float = 0.02) -> tuple[np.ndarray, int]:
    frame = int(round(frame_seconds * rate))
    count = len(audio) // frame
    power = np.mean(audio[: count * frame].reshape(count, frame) ** 2, axis=1)
    return 10 * np.log10(power + 1e-12), frame


def trim(audio: np.ndarray, rate: int, range_db: float = 40.0, pad_seconds: float = 0.1) -> np.ndarray:
    """Cut leading/trailing silence, keeping ``pad_seconds`` of context, with short fades."""
    levels, frame = frame_levels_db(audio, rate)
    if len(levels) == 0:
        return audio[:0]
    active = np.flatnonzero(levels > levels.max() - range_db)
    pad = int(pad_seconds * rate)
    start = max(0, active[0] * frame - pad)
    stop = min(len(audio), (active[-1] + 1) * frame + pad)
    out = audio[start:stop].copy()
    fade = min(int(0.01 * rate), len(out) // 2)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, fade, dtype=np.float32))
    out[:fade] *= ramp
    out[len(out) - fade:] *= ramp[::-1]
    return out


def segment_at_pauses(audio: np.ndarray, rate: int) -> list[np.ndarray]:
    """Cut a long recording at pauses into pieces of at most SEGMENT_MAX_SECONDS.

    Pauses are runs of >= 60 ms of 20 ms frames more than 30 dB below the loudest frame; a cut goes in
    the middle of a pause. Greedily, each piece ends at the furthest pause that keeps it short enough;
    stretches with no such pause are dropped (never cut inside a word).
    """
    levels, frame = frame_levels_db(audio, rate)
    if len(levels) == 0:
        return []
    if len(audio) / rate <= SEGMENT_MAX_SECONDS:
        return [audio]
    quiet = np.append(levels < levels.max() - 30.0, False)
    cuts, run_start = [], None
    for i, is_quiet in enumerate(quiet):
        if is_quiet and run_start is None:
            run_start = i
        elif not is_quiet and run_start is not None:
            if i - run_start >= 3:
                cuts.append(((run_start + i) // 2) * frame)
            run_start = None
    cuts = sorted(set(cuts + [len(audio)]))
    pieces, start = [], 0
    while True:
        reachable = [c for c in cuts if MIN_SECONDS * rate <= c - start <= SEGMENT_MAX_SECONDS * rate]
        if reachable:
            pieces.append(audio[start:reachable[-1]])
            start = reachable[-1]
        else:
            later = [c for c in cuts if c > start]
            if not later:
                return pieces
            start = later[0]


def active_level_db(audio: np.ndarray, rate: int) -> float:
    """Active speech level: RMS (dBFS) over the 20 ms frames within 40 dB of the loudest frame."""
    levels, _ = frame_levels_db(audio, rate)
    active = levels[levels > levels.max() - 40.0]
    return float(10 * np.log10(np.mean(10 ** (active / 10))))


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    return resample_array(audio, rate_in, rate_out).astype(np.float32)


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    return np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int16)


# ---------------------------------------------------------------------------------- utterances
@dataclass
class SourceUtterance:
    speaker: Speaker
    utterance_id: str
    source: Path
    audio: np.ndarray  # native rate, trimmed
    rate: int


def utterances_of(path: Path, speaker: Speaker) -> list[SourceUtterance]:
    """The usable utterances in one source file (trimmed, within the duration limits)."""
    audio, rate = decode(path)
    if len(audio) < MIN_SECONDS * rate:
        return []
    audio = highpass(audio, rate)
    pieces = segment_at_pauses(audio, rate) if speaker.segment_long else [audio]
    limit = SEGMENT_MAX_SECONDS if speaker.segment_long else MAX_SECONDS
    stem = re.sub(r"[^A-Za-z0-9]+", "-", path.stem.replace("sense_and_sensibility_01_austen_64kb", "austen"))
    found = []
    for index, piece in enumerate(pieces):
        piece = trim(piece, rate)
        if MIN_SECONDS <= len(piece) / rate <= limit:
            suffix = f"-s{index}" if len(pieces) > 1 else ""
            found.append(SourceUtterance(speaker, f"{speaker.label}_{stem.strip('-')}{suffix}", path, piece, rate))
    return found


def select(speaker: Speaker, rng: np.random.Generator) -> list[SourceUtterance]:
    """``speaker.count`` utterances: source files are visited in a seeded random order until enough
    usable utterances are found (so only a few of the hundreds of prompts need decoding); pieces of
    segmented recordings are then drawn at random. The result is sorted by utterance id."""
    pool: list[SourceUtterance] = []
    for i in rng.permutation(len(speaker.files)):
        pool.extend(utterances_of(speaker.files[i], speaker))
        if not speaker.segment_long and len(pool) >= speaker.count:
            break
    if len(pool) < speaker.count:
        raise RuntimeError(f"{speaker.label}: only {len(pool)} usable utterances, {speaker.count} wanted; "
                           f"is {speaker.package} installed?")
    chosen = rng.choice(len(pool), size=speaker.count, replace=False)
    return sorted((pool[i] for i in chosen), key=lambda u: u.utterance_id)


def render(utterance: SourceUtterance) -> dict[int, np.ndarray]:
    """PCM_16 samples of one utterance at every corpus rate, loudness-normalised with one gain."""
    at16 = resample(utterance.audio, utterance.rate, 16000)
    gain = 10 ** ((TARGET_LEVEL_DBFS - active_level_db(at16, 16000)) / 20)
    versions = {rate: resample(utterance.audio, utterance.rate, rate) for rate in RATES}
    peak = max(float(np.max(np.abs(v))) for v in versions.values())
    gain = min(gain, PEAK_LIMIT / peak)
    return {rate: to_pcm16(v * gain) for rate, v in versions.items()}


# -------------------------------------------------------------------------------------- noise
def shaped_noise(kind: str, length: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with power spectrum 1 (white), 1/f (pink) or 1/f^2 (brown), unit RMS."""
    white = rng.standard_normal(length)
    if kind == "white":
        noise = white
    else:
        spectrum = np.fft.rfft(white)
        freqs = np.fft.rfftfreq(length, 1.0 / rate)
        exponent = {"pink": 0.5, "brown": 1.0}[kind]  # amplitude ~ f^-exponent
        shape = np.zeros_like(freqs)
        shape[1:] = np.maximum(freqs[1:], 20.0) ** -exponent
        shape[freqs < 20.0] = 0.0
        noise = np.fft.irfft(spectrum * shape, n=length)
    return noise / np.sqrt(np.mean(noise ** 2))


def loop_to(audio: np.ndarray, length: int, offset: int) -> np.ndarray:
    reps = int(np.ceil((length + offset) / len(audio))) + 1
    return np.tile(audio, reps)[offset: offset + length]


def babble(target: dict, split_items: list[dict], length: int, rng: np.random.Generator) -> np.ndarray:
    others = [item for item in split_items if item["speaker"] != target["speaker"]]
    if not others:  # single-speaker split: other utterances of the same speaker
        others = [item for item in split_items if item["id"] != target["id"]]
    chosen = rng.choice(len(others), size=min(BABBLE_TALKERS, len(others)), replace=False)
    mix = np.zeros(length)
    for i in chosen:
        talker = others[i]["pcm"][16000].astype(np.float64) / 32768.0
        talker = loop_to(talker, length, int(rng.integers(len(talker))))
        mix += talker / (np.sqrt(np.mean(talker ** 2)) + 1e-9)
    return mix / np.sqrt(np.mean(mix ** 2))


def music_track(split: str) -> np.ndarray:
    """The music-on-hold track used as "music" noise in ``split`` (a different one per split)."""
    path = MOH / f"{MUSIC_TRACKS[split]}.g722"
    if not path.exists():
        raise RuntimeError(f"{path} is missing; apt-get install asterisk-moh-opsound-g722")
    audio, _ = decode(path)
    return highpass(audio, 16000).astype(np.float64)


def make_noisy(clean_pcm: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    clean = clean_pcm.astype(np.float64) / 32768.0
    scale = np.sqrt(np.sum(clean ** 2) / np.sum(noise ** 2) / 10 ** (snr_db / 10))
    noisy = clean + scale * noise
    if np.max(np.abs(noisy)) >= 1.0:
        raise RuntimeError("noisy mixture would clip; lower TARGET_LEVEL_DBFS")
    return to_pcm16(noisy)


# -------------------------------------------------------------------------------------- writing
def write_wav(path: Path, pcm: np.ndarray, rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, pcm, rate, subtype="PCM_16")


def build(out: Path) -> None:
    rng = np.random.default_rng(SEED)
    if out.exists():
        for sub in ("speech", "enhancement"):
            shutil.rmtree(out / sub, ignore_errors=True)
    items = []
    for speaker in speakers():
        for utt in select(speaker, rng):
            items.append({"id": utt.utterance_id, "speaker": speaker.label, "split": speaker.split,
                          "package": speaker.package, "source": str(utt.source), "pcm": render(utt)})
            print(f"{speaker.split:5s} {utt.utterance_id}")

    speech_rows = []
    for item in items:
        for rate in RATES:
            write_wav(out / "speech" / RATE_DIRS[rate] / item["split"] / item["speaker"] / f"{item['id']}.wav",
                      item["pcm"][rate], rate)
        speech_rows.append([item["id"], item["speaker"], item["split"], item["package"], item["source"],
                            f"{len(item['pcm'][16000]) / 16000:.3f}"])
    with open(out / "speech" / "manifest.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["utterance_id", "speaker", "split", "package", "source_file", "duration_s"])
        writer.writerows(speech_rows)

    conditions = [(kind, snr) for kind in NOISE_KINDS for snr in SNRS_DB]
    for split in SPLITS:
        track = music_track(split)
        split_items = [item for item in items if item["split"] == split]
        order = rng.permutation(len(conditions))
        rows = []
        for n, item in enumerate(split_items):
            kind, snr = conditions[order[n % len(conditions)]]
            clean = item["pcm"][16000]
            length = len(clean)
            if kind == "babble":
                noise = babble(item, split_items, length, rng)
            elif kind == "music":
                noise = loop_to(track, length, int(rng.integers(len(track))))
                noise = noise / np.sqrt(np.mean(noise ** 2))
            else:
                noise = shaped_noise(kind, length, 16000, rng)
            write_wav(out / "enhancement" / split / "clean" / f"{item['id']}.wav", clean, 16000)
            write_wav(out / "enhancement" / split / "noisy" / f"{item['id']}.wav",
                      make_noisy(clean, noise, snr), 16000)
            rows.append([item["id"], item["speaker"], kind, f"{snr:g}", f"{length / 16000:.3f}"])
        with open(out / "enhancement" / split / "manifest.csv", "w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["id", "speaker", "noise_kind", "snr_db", "duration_s"])
            writer.writerows(rows)

    write_licenses(out)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{len(items)} utterances, {total / 1e6:.2f} MB in {out}")


LICENSES_HEADER = """\
Licenses of the audio in this folder (the embedded toy speech corpus of cdpam-plugins)
======================================================================================

Every WAV file here is derived from recordings shipped in Debian 12 packages. The derivation (decoding,
60 Hz high-pass, silence trimming, cutting long recordings at pauses, level normalisation, resampling
to 16 kHz / 22.05 kHz, and, for enhancement/*/noisy/, adding synthetic or recorded noise) is done by
scripts/build_toy_corpus.py. The derived files are distributed under the licenses of their sources:

speaker / material        files                                       source (Debian package)            copyright / license
------------------------  ------------------------------------------  ---------------------------------  --------------------------------------------
allison                   speech/*/train/allison/, enhancement/train  asterisk-core-sounds-en-g722       (c) 2003-2010 Allison Smith; CC-BY-SA-3.0
june                      speech/*/train/june/, enhancement/train     asterisk-core-sounds-fr-g722       (c) 2006-2008 June Wallack; CC-BY-SA-3.0
carlo                     speech/*/train/carlo/, enhancement/train    asterisk-core-sounds-it-g722       (c) 2012 Carlo Flora; CC-BY-3.0
ivrvoice_ru               speech/*/valid/ivrvoice_ru/, enh. valid     asterisk-core-sounds-ru-g722       (c) 2010 Maxim Topal (ivrvoice.ru); CC-BY-3.0
librivox_reader           speech/*/test/librivox_reader/, enh. test   pocketsphinx-testdata              LibriVox recording (public domain) as shipped
                                                                                                         in pocketsphinx's test data, (c) 1995-2015
                                                                                                         Carnegie Mellon University / Alpha Cephei
                                                                                                         Inc.; BSD-2
pocketsphinx_cmu          speech/*/test/pocketsphinx_cmu/, enh. test  pocketsphinx-testdata              (c) 1995-2015 Carnegie Mellon University /
                                                                                                         Alpha Cephei Inc.; BSD-2
codec2_speaker            speech/*/test/codec2_speaker/, enh. test    codec2-examples                    (c) 2007-2019 David Rowe; LGPL-2.1
alsa_voice                speech/*/test/alsa_voice/, enh. test        alsa-utils                         (c) 1998-2022 Jaroslav Kysela and others;
                                                                                                         GPL-2
music noise               enhancement/*/noisy/ (noise_kind music)     asterisk-moh-opsound-g722          (c) 2009 Paul Shuler (Macroform); CC-BY-SA-3.0
                          train: macroform-cold_day, valid:
                          macroform-robot_dity, test:
                          macroform-the_simplicity

A noisy file (enhancement/<split>/noisy/<id>.wav) is a mixture: it carries the license of its clean
speech and, for noise_kind "babble", of the other speakers of the same split mixed into it, and for
noise_kind "music", CC-BY-SA-3.0 of the music track (see enhancement/<split>/manifest.csv). White, pink
and brown noise are generated by the build script and add no license.

Attribution: Asterisk core sound prompts recorded by Allison Smith (theivrvoice.com), June Wallack
(junewallack.com, French translation by Clod Patry, Kristopher Lalletti and June Wallack), Carlo Flora
(carloflora.com, Italian translation by Silvia Petrin), and the Russian voice provided by Maxim Topal
(ivrvoice.ru); financial contributions by Digium, Inc. Music on hold by Macroform (Paul Shuler). The
files here are modified (trimmed, filtered, resampled, level-normalised, mixed with noise).
CC-BY-SA-3.0: https://creativecommons.org/licenses/by-sa/3.0/  CC-BY-3.0:
https://creativecommons.org/licenses/by/3.0/ (full texts below, in the Asterisk sounds' copyright file).

What follows is, verbatim, the Debian copyright file of each package used, then the full texts of the
GNU GPL version 2 and the GNU LGPL version 2.1 (from Debian's /usr/share/common-licenses).
"""

LICENSE_SOURCES = [
    Path("/usr/share/doc/asterisk-core-sounds-en-g722/copyright"),
    Path("/usr/share/doc/asterisk-moh-opsound-g722/copyright"),
    Path("/usr/share/doc/pocketsphinx-testdata/copyright"),
    Path("/usr/share/doc/codec2-examples/copyright"),
    Path("/usr/share/doc/alsa-utils/copyright"),
    Path("/usr/share/common-licenses/GPL-2"),
    Path("/usr/share/common-licenses/LGPL-2.1"),
]


def write_licenses(out: Path) -> None:
    """LICENSES: the table above, then each package's copyright file and the GPL-2/LGPL-2.1 texts."""
    parts = [LICENSES_HEADER]
    for path in LICENSE_SOURCES:
        rule = "=" * 100
        note = " (identical for the -fr, -it and -ru packages)" if "core-sounds" in str(path) else ""
        parts.append(f"\n{rule}\n{path}{note}\n{rule}\n\n{path.read_text(encoding='utf-8')}")
    (out / "LICENSES").write_text("".join(parts), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    build(parser.parse_args().out)


if __name__ == "__main__":
    main()
