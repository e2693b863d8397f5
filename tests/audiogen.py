"""Builds hall audio test sets at test time from the real speech in ../shared/assets/audio.

No permissively licensed recording of a real quarrel exists (assets/SOURCES.md), so quarrels are made
from real read speech and a real two-person conversation: two voices overlapping, pitch-shifted up 3-4
semitones and raised 15-18 dB over the window's calm conversation. Around them:
- calm conversation at each window at its own level (microphones differ in distance and gain);
- a PA-style announcement (chime + speech, ~14 dB over calm) on every microphone at once;
- loud non-speech: broadband noise and repeated impacts (thuds) at one window;
- quiet anger: one voice pitched up 4 semitones but only ~3 dB louder;
- a low ambient hum/noise floor on every microphone, and 20 dB cross-talk of each window's events into
  the other microphones.
Nothing generated is committed: callers pass a temp dir. `python -m tests.audiogen OUT_DIR` writes the
default set (mic1..mic3 wav, labels.json, plan.json) for `hallwatch replay`/`evaluate` by hand.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from models.assets import require_asset

SR = 16000
CALM_DB = {"mic1": -32.0, "mic2": -36.0, "mic3": -29.0}  # calm speech level per microphone, dBFS
LEAK_DB = -20.0  # how loud one window's events are at the other microphones
AMBIENT_DB = -62.0
# Events of the default set, placed while someone stands at the table in
# one-by-one-person-detection.mp4 (at the table about 7-18, 24-43, 51-68, 76-84, 92-117, 124-134 s).
DEFAULT_PLAN: list[dict] = [
    {"kind": "quarrel", "mic": "mic1", "start": 26.0, "end": 36.0},
    {"kind": "quiet_anger", "mic": "mic3", "start": 27.0, "end": 36.0},
    {"kind": "pa", "mic": "*", "start": 53.0, "end": 62.0},
    {"kind": "noise", "mic": "mic2", "start": 77.0, "end": 84.0},
    {"kind": "quarrel", "mic": "mic2", "start": 94.0, "end": 104.0},
    {"kind": "impacts", "mic": "mic3", "start": 95.0, "end": 103.0},
    {"kind": "quarrel", "mic": "mic3", "start": 106.0, "end": 115.0},
    {"kind": "impacts", "mic": "mic1", "start": 125.0, "end": 133.0},
]
# A second arrangement, for checking that nothing is fitted to the first: other windows and times, a
# quarrel while another window has impacts, two PA calls, and a deep voice quarrelling (the low-pitched
# reader, so the quarrel's pitch is below that window's usual pitch).
VARIANT_PLAN: list[dict] = [
    {"kind": "quarrel", "mic": "mic3", "start": 20.0, "end": 30.0},
    {"kind": "pa", "mic": "*", "start": 40.0, "end": 48.0},
    {"kind": "quarrel", "mic": "mic1", "start": 60.0, "end": 70.0},
    {"kind": "impacts", "mic": "mic2", "start": 60.0, "end": 68.0},
    {"kind": "noise", "mic": "mic1", "start": 80.0, "end": 88.0},
    {"kind": "quiet_anger", "mic": "mic2", "start": 100.0, "end": 110.0},
    {"kind": "quarrel", "mic": "mic2", "start": 115.0, "end": 125.0},
    {"kind": "pa", "mic": "*", "start": 128.0, "end": 136.0},
]
MIC_WINDOW = {"mic1": "W1", "mic2": "W2", "mic3": "W3"}


def assets_dir() -> Path:
    """The shared assets folder (models/assets.py's search order); raises AssetMissingError naming it."""
    return require_asset("audio/two-speakers.wav").parent.parent


def _load(name: str, assets: Path) -> np.ndarray:
    y, sr = sf.read(assets / "audio" / name, dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    return y if sr == SR else librosa.resample(y, orig_sr=sr, target_sr=SR).astype(np.float32)


def speech_db(y: np.ndarray) -> float:
    """Level of the active parts (frames within 25 dB of the loud ones), dBFS."""
    n = len(y) // 512
    p = (y[: n * 512].reshape(n, 512) ** 2).mean(axis=1) + 1e-12
    act = p[10 * np.log10(p) > 10 * np.log10(np.percentile(p, 95)) - 25]
    return float(10 * np.log10(act.mean()))


def _at(y: np.ndarray, db: float) -> np.ndarray:
    return (y * 10 ** ((db - speech_db(y)) / 20)).astype(np.float32)


def _fit(y: np.ndarray, n: int, offset: int = 0) -> np.ndarray:
    """`n` samples of `y` looped from `offset`."""
    reps = (offset + n) // len(y) + 1
    return np.tile(y, reps)[offset: offset + n]


def _fade(y: np.ndarray, ms: float = 30.0) -> np.ndarray:
    k = min(len(y) // 2, int(SR * ms / 1000))
    ramp = np.linspace(0, 1, k, dtype=np.float32)
    y = y.copy()
    y[:k] *= ramp
    y[len(y) - k:] *= ramp[::-1]
    return y


@dataclass
class HallSet:
    """A generated set: one wav per microphone, truth labels, and the plan it was built from."""

    dir: Path
    mics: dict[str, Path]
    labels: list[dict]
    plan: list[dict]
    duration_s: float


class _Voices:
    def __init__(self, assets: Path) -> None:
        conv = _load("two-speakers.wav", assets)[int(6.5 * SR):]  # skip its leading silence
        reads = [_load(n, assets) for n in ("198-209-0000.hq.ogg", "3436-172162-0000.hq.ogg",
                                            "5703-47212-0000.hq.ogg")]
        gap = np.zeros(int(0.6 * SR), np.float32)
        conv, reads = _at(conv, -30.0), [_at(r, -30.0) for r in reads]  # each clip at one level first
        self.calm = {"mic1": conv, "mic2": np.concatenate([reads[0], gap, reads[1], gap]),
                     "mic3": np.concatenate([reads[2], gap, conv[10 * SR:], gap])}
        self.reads = reads
        self.conv = conv


def _event(kind: str, n: int, calm_db: float, v: _Voices, rng: np.random.Generator, i: int) -> np.ndarray:
    """The signal of one event, `n` samples, at the level it has on its own window's microphone."""
    t = np.arange(n) / SR
    if kind == "quarrel":
        a = librosa.effects.pitch_shift(_fit(v.reads[i % 3], n, SR * i), sr=SR, n_steps=4.0)
        b = librosa.effects.pitch_shift(_fit(v.conv, n, SR * (3 + 2 * i)), sr=SR, n_steps=3.0)
        b = np.roll(b, int(0.7 * SR))
        return _at(a, calm_db + 18.0) + _at(b, calm_db + 15.0)
    if kind == "quiet_anger":
        a = librosa.effects.pitch_shift(_fit(v.reads[(i + 1) % 3], n, SR * 2), sr=SR, n_steps=4.0)
        return _at(a, calm_db + 3.0)
    if kind == "noise":
        return (rng.standard_normal(n) * 10 ** ((calm_db + 20.0) / 20)).astype(np.float32)
    if kind == "impacts":
        out = np.zeros(n, np.float32)
        thud_n = int(0.25 * SR)
        tt = np.arange(thud_n) / SR
        env = np.exp(-tt / 0.04)
        for k, start in enumerate(range(0, n - thud_n, int(0.45 * SR))):
            f = 70.0 + 15.0 * (k % 4)
            thud = env * (np.sin(2 * np.pi * f * tt) + 0.6 * rng.standard_normal(thud_n) * np.exp(-tt / 0.01))
            out[start: start + thud_n] += thud.astype(np.float32)
        return (out / np.sqrt((out ** 2).mean() + 1e-12) * 10 ** ((calm_db + 16.0) / 20)).astype(np.float32)
    if kind == "pa":
        chime = np.concatenate([np.sin(2 * np.pi * f * t[: SR // 2]) * np.exp(-t[: SR // 2] / 0.3)
                                for f in (784.0, 659.0)]).astype(np.float32)
        speech = _fit(v.reads[(i + 2) % 3], n - len(chime), 0)
        chime *= speech.std() / (chime.std() + 1e-9)
        return np.concatenate([chime, speech]).astype(np.float32)  # level set by the caller
    raise ValueError(f"unknown event kind {kind!r}")


def build_hall_set(out_dir: str | Path, *, plan: list[dict] | None = None, duration_s: float = 139.0,
                   assets: Path | None = None, seed: int = 0, after_s: float = 5.0,
                   clear_after_s: float = 10.0) -> HallSet:
    """Write mic1..mic3.wav (16 kHz, 16-bit) into `out_dir`; labels mark each quarrel as a dispute from
    `start + after_s` to `end + clear_after_s` at its window."""
    assets = assets or assets_dir()
    plan = DEFAULT_PLAN if plan is None else plan
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    v = _Voices(assets)
    n = int(duration_s * SR)
    mics = {m: _at(_fit(v.calm[m], n, SR * j * 5), CALM_DB[m]) for j, m in enumerate(CALM_DB)}
    for i, ev in enumerate(plan):
        a, b = int(ev["start"] * SR), int(ev["end"] * SR)
        targets = list(CALM_DB) if ev["mic"] == "*" else [ev["mic"]]
        for m in targets:
            sig = _fade(_event(ev["kind"], b - a, CALM_DB[m], v, rng, i))
            if ev["kind"] == "pa":  # the announcement is ~14 dB over each window's calm speech
                sig = _at(sig, CALM_DB[m] + 14.0 + rng.uniform(-2, 2))
            if ev["kind"] in ("quarrel", "quiet_anger"):  # the counter's conversation turns into this
                mics[m][a:b] *= np.float32(0.0)
            mics[m][a:b] += sig
            if ev["mic"] != "*":
                for other in CALM_DB:
                    if other != m:
                        mics[other][a:b] += sig * np.float32(10 ** (LEAK_DB / 20))
    paths = {}
    for m, y in mics.items():
        floor = rng.standard_normal(n).astype(np.float32)
        floor = np.cumsum(floor) * 0.02  # reddish hall noise
        floor -= np.convolve(floor, np.ones(256) / 256, mode="same")
        y = y + floor / (floor.std() + 1e-9) * np.float32(10 ** (AMBIENT_DB / 20))
        paths[m] = out_dir / f"{m}.wav"
        sf.write(paths[m], np.clip(y, -1, 1), SR, subtype="PCM_16")
    labels = [{"type": "dispute", "window": MIC_WINDOW[e["mic"]], "start": e["start"] + after_s,
               "end": e["end"] + clear_after_s} for e in plan if e["kind"] == "quarrel"]
    (out_dir / "labels.json").write_text(json.dumps(labels, indent=1))
    (out_dir / "plan.json").write_text(json.dumps(plan, indent=1))
    return HallSet(out_dir, paths, labels, plan, duration_s)


if __name__ == "__main__":
    s = build_hall_set(sys.argv[1] if len(sys.argv) > 1 else "out/hallset")
    print(f"wrote {', '.join(str(p) for p in s.mics.values())} and labels.json ({len(s.labels)} disputes)")
