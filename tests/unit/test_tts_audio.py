import io
import wave

import numpy as np
import pytest

from voxlancer.tts import audio


def tone(seconds: float, rate: int, freq: float = 440.0, level: float = 0.05) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def read(data: bytes) -> tuple[wave._wave_params, np.ndarray]:
    with wave.open(io.BytesIO(data), "rb") as wav:
        return wav.getparams(), np.frombuffer(wav.readframes(wav.getnframes()), "<i2")


def test_telephony_wav_is_8khz_mono_16bit_with_lead_in():
    params, pcm = read(audio.telephony_wav(tone(1.0, 22050), 22050))
    assert (params.framerate, params.nchannels, params.sampwidth) == (8000, 1, 2)
    lead = int(8000 * audio.LEAD_IN_SECONDS)
    assert not pcm[:lead].any()
    assert params.nframes == pytest.approx(lead + 8000, abs=2)


def test_quiet_speech_is_raised_to_the_target_rms():
    out = audio.normalise(tone(1.0, 8000, level=0.01), 8000)
    rms_db = 20 * np.log10(np.sqrt(np.mean(out.astype(np.float64) ** 2)))
    assert rms_db == pytest.approx(audio.TARGET_RMS_DBFS, abs=0.1)


def test_peaky_audio_stops_at_the_ceiling_without_clipping():
    samples = tone(1.0, 8000, level=0.01)
    samples[100] = 0.9  # a click 39 dB above the speech
    out = audio.normalise(samples, 8000)
    assert np.max(np.abs(out)) == pytest.approx(audio.db_to_amplitude(-1.0), rel=1e-4)
    pcm = audio.to_pcm16(out)
    assert np.max(np.abs(pcm)) < 32767


def test_pauses_do_not_change_the_level():
    speech = tone(1.0, 8000)
    with_pauses = np.concatenate([speech, np.zeros(16000, np.float32), speech])
    assert audio.speech_rms(with_pauses, 8000) == pytest.approx(audio.speech_rms(speech, 8000),
                                                                rel=0.01)


def test_silence_stays_silent():
    assert not audio.normalise(np.zeros(800, np.float32), 8000).any()
    assert audio.speech_rms(np.zeros(0, np.float32), 8000) == 0.0


def test_resampling_keeps_speech_band_and_removes_what_8khz_cannot_carry():
    rate = 22050
    mixed = tone(1.0, rate, 1000.0, 0.3) + tone(1.0, rate, 6000.0, 0.3)
    narrow = audio.resample(mixed, rate, 8000)
    spectrum = np.abs(np.fft.rfft(narrow))
    freqs = np.fft.rfftfreq(len(narrow), 1 / 8000)
    # 6 kHz would alias to 2 kHz without a proper low-pass filter.
    def at(hz: float) -> float:
        return spectrum[np.argmin(np.abs(freqs - hz))]

    assert at(2000) < at(1000) / 1000


def test_preview_keeps_the_native_rate():
    params, _ = read(audio.preview_wav(tone(0.5, 22050), 22050))
    assert (params.framerate, params.nchannels, params.sampwidth) == (22050, 1, 2)
    assert audio.wav_duration(audio.preview_wav(tone(0.5, 22050), 22050)) == pytest.approx(0.5)
