"""Audio shaping: resampling, loudness and WAV encoding (pure functions over numpy arrays).

Loudness: one gain for the whole message, the smaller of
  - the gain that brings the speech's RMS to TARGET_RMS_DBFS (-18 dBFS), and
  - the gain that puts the highest sample at PEAK_CEILING_DBFS (-1 dBFS),
so nothing is ever clipped and no compressor colours the voice. Piper speech has a crest factor
of about 23 dB, so the peak ceiling usually decides and messages land near -24 dBFS RMS; every
message of a voice lands at the same level, which is what listeners notice. The RMS is measured
over speech only (20 ms frames within 40 dB of the loudest), so pauses do not make a message
with many sentences louder than a short one.
"""

from __future__ import annotations

import io
import wave

import numpy as np
import soxr

TELEPHONY_RATE = 8000
TARGET_RMS_DBFS = -18.0
PEAK_CEILING_DBFS = -1.0
LEAD_IN_SECONDS = 0.3
_FRAME_SECONDS = 0.02
_GATE_DB = 40.0
_INT16_MAX = 32767
# A piece's edges: what is quieter than this below the peak counts as silence, and how much of
# it is kept before the first sound and after the last (a word's gap, split between the two).
_EDGE_DB = 40.0
KEEP_BEFORE_SECONDS = 0.01
KEEP_AFTER_SECONDS = 0.04


def db_to_amplitude(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    if from_rate == to_rate:
        return samples.astype(np.float32, copy=False)
    # soxr's HQ preset: a steep anti-aliasing low-pass, so 22 kHz speech does not alias below 4 kHz.
    resampled: np.ndarray = soxr.resample(samples.astype(np.float32, copy=False), from_rate,
                                          to_rate, "HQ")  # (soxr is untyped)
    return resampled


def speech_rms(samples: np.ndarray, rate: int) -> float:
    if len(samples) == 0:
        return 0.0
    frame = min(max(1, int(rate * _FRAME_SECONDS)), len(samples))
    usable = len(samples) - len(samples) % frame
    frames = samples[:usable].astype(np.float64).reshape(-1, frame)
    energy = np.mean(np.square(frames), axis=1)
    loudest = float(energy.max())
    if loudest <= 0.0:
        return 0.0
    active = energy[energy >= loudest * 10.0 ** (-_GATE_DB / 10.0)]
    return float(np.sqrt(np.mean(active)))


def peak(samples: np.ndarray) -> float:
    return float(np.max(np.abs(samples))) if len(samples) else 0.0


def gain(samples: np.ndarray, rate: int) -> float:
    """The gain toward -18 dBFS RMS that keeps the peak at or under -1 dBFS (0 for silence)."""
    highest = peak(samples)
    if highest < 1e-6:
        return 0.0
    return min(db_to_amplitude(TARGET_RMS_DBFS) / max(speech_rms(samples, rate), 1e-9),
               db_to_amplitude(PEAK_CEILING_DBFS) / highest)


def normalise(samples: np.ndarray, rate: int) -> np.ndarray:
    """One gain for the whole message: toward -18 dBFS RMS, never past the -1 dBFS peak."""
    return (samples * gain(samples, rate)).astype(np.float32)


def to_pcm16(samples: np.ndarray) -> np.ndarray:
    # Normalised audio is inside [-1, 1]; the clip only guards rounding at the very edge.
    pcm16: np.ndarray = np.clip(np.rint(samples * _INT16_MAX), -_INT16_MAX, _INT16_MAX
                                ).astype("<i2")
    return pcm16


def wav_bytes(pcm16: np.ndarray, rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm16.tobytes())
    return out.getvalue()


def preview_wav(samples: np.ndarray, rate: int) -> bytes:
    """What a customer hears in the browser: the voice's native rate, the call's loudness."""
    return wav_bytes(to_pcm16(normalise(samples, rate)), rate)


def trim_edges(samples: np.ndarray, rate: int, *, start: bool, end: bool) -> np.ndarray:
    """Piper's own silence cut from the start and/or the end down to a word's gap: for a piece
    played in the middle of a sentence, where the pause of a whole render would be a few tens
    of milliseconds, not the 50 ms before and 140 ms after that a piece synthesised alone has."""
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    sound = np.nonzero(np.abs(samples) > peak * db_to_amplitude(-_EDGE_DB))[0]
    if not len(sound):
        return samples
    first = max(0, int(sound[0]) - int(rate * KEEP_BEFORE_SECONDS)) if start else 0
    last = min(len(samples), int(sound[-1]) + 1 + int(rate * KEEP_AFTER_SECONDS)) if end \
        else len(samples)
    return samples[first:last]


def telephony_wav(samples: np.ndarray, rate: int, *, lead_in: bool = True,
                  trim_start: bool = False, trim_end: bool = False) -> bytes:
    """8 kHz mono 16-bit WAV for Asterisk, with a short silence so the callee's first word is
    not lost while the media path settles after answer (not for audio played straight after
    other audio); trim_start, trim_end: see trim_edges."""
    narrow = normalise(resample(samples, rate, TELEPHONY_RATE), TELEPHONY_RATE)
    if trim_start or trim_end:
        narrow = trim_edges(narrow, TELEPHONY_RATE, start=trim_start, end=trim_end)
    if not lead_in:
        return wav_bytes(to_pcm16(narrow), TELEPHONY_RATE)
    silence = np.zeros(int(TELEPHONY_RATE * LEAD_IN_SECONDS), dtype=np.float32)
    return wav_bytes(to_pcm16(np.concatenate([silence, narrow])), TELEPHONY_RATE)


def wav_duration(data: bytes | str) -> float:
    """Seconds of audio in a WAV file (bytes or a path)."""
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    with wave.open(source, "rb") as wav:
        return wav.getnframes() / wav.getframerate()
