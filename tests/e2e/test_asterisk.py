"""Real calls through the sandbox: ARI drives Asterisk, sipp plays the called phones."""

from __future__ import annotations

import math
import shutil
import struct
import uuid
import wave
from pathlib import Path

from tests.e2e.ari import AriClient, for_channel
from tests.e2e.conftest import E2E_INSTANCE
from tests.e2e.sipp import SCENARIOS, Sipp
from voxlancer.asterisk.sandbox import SOUNDS_DIR, SandboxInfo
from voxlancer.dialer import trunk


def write_tone(path: Path, seconds: float = 1.0, hz: int = 440) -> None:
    """8 kHz mono 16-bit PCM: what format_wav plays without transcoding."""
    rate = 8000
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * n / rate)))
                      for n in range(int(rate * seconds)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)


async def play_and_wait(ari: AriClient, channel_id: str, media: str) -> None:
    playback_id = str(uuid.uuid4())
    await ari.request("POST", f"/channels/{channel_id}/play", media=media,
                      playbackId=playback_id)
    finished = await ari.wait_for(lambda e: e.get("type") == "PlaybackFinished"
                                  and e["playback"]["id"] == playback_id)
    assert finished["playback"]["state"] == "done", finished


async def hang_up_and_wait(ari: AriClient, channel_id: str) -> None:
    await ari.request("DELETE", f"/channels/{channel_id}")
    await ari.wait_for(for_channel("StasisEnd", channel_id))
    await ari.wait_for(for_channel("ChannelDestroyed", channel_id))


async def test_ari_answers_with_version(ari: AriClient, sandbox: SandboxInfo) -> None:
    info = await ari.request("GET", "/asterisk/info")
    assert info["system"]["version"] == sandbox.version
    assert info["system"]["version"].startswith("22.")


async def test_call_through_sim_trunk_plays_audio(ari: AriClient, sandbox: SandboxInfo,
                                                  sipp_dir: Path) -> None:
    # A file in the root's sounds directory, and one in the media directory, which is mounted
    # at the same path inside the root (that is how the dialer will play rendered messages).
    sounds = sandbox.sounds_dir
    write_tone(sipp_dir / "tone.wav")
    shutil.copy(sipp_dir / "tone.wav", sounds / "e2e-tone.wav")
    write_tone(sandbox.media_dir / "e2e-media-tone.wav", seconds=0.5, hz=660)

    callee = Sipp.uas(E2E_INSTANCE.sim_port, 16000, calls=1, workdir=sipp_dir, name="sim")
    try:
        channel_id = str(uuid.uuid4())
        await ari.request("POST", "/channels", endpoint="PJSIP/+12025550100@sim",
                          app=sandbox.ari_app, channelId=channel_id, timeout="15")
        await ari.wait_for(for_channel("StasisStart", channel_id))
        await play_and_wait(ari, channel_id, f"sound:{SOUNDS_DIR}/e2e-tone")
        await play_and_wait(ari, channel_id, f"sound:{sandbox.media_dir}/e2e-media-tone")
        await hang_up_and_wait(ari, channel_id)
        assert callee.finish() == 0, callee.tail()
    finally:
        callee.stop()
    counters = callee.counters()
    assert counters["SuccessfulCall(C)"] == "1", counters
    assert counters["FailedCall(C)"] == "0", counters


async def test_test_range_rings_registered_softphone(ari: AriClient, sandbox: SandboxInfo,
                                                     sipp_dir: Path) -> None:
    phone_port = 5180
    # The phone: one sipp answers calls on phone_port, another registers that address. Like
    # baresip, the phone answers 404 to a call addressed to any user but its own account.
    phone = Sipp(["-sf", str(SCENARIOS / "softphone_callee.xml"), "-i", "127.0.0.1",
                  "-p", str(phone_port), "-mp", "16100", "-m", "2", "-timeout", "60s",
                  "-timeout_error"], sipp_dir, "softphone")
    try:
        register = Sipp([f"127.0.0.1:{sandbox.sip_port}", "-sf",
                         str(SCENARIOS / "register_softphone.xml"), "-i", "127.0.0.1",
                         "-p", "5181", "-m", "1", "-key", "contact_port", str(phone_port),
                         "-au", sandbox.softphone_user, "-ap", sandbox.softphone_password,
                         "-timeout", "15s", "-timeout_error"], sipp_dir, "register")
        assert register.finish() == 0, register.tail()
        assert register.counters()["SuccessfulCall(C)"] == "1"

        # Through the dial plan, as a campaign number in the reserved range...
        via_dialplan = str(uuid.uuid4())
        await ari.request("POST", "/channels",
                          endpoint="Local/+12025550142@voxlancer-dial/n",
                          app=sandbox.ari_app, channelId=via_dialplan, timeout="15")
        await ari.wait_for(for_channel("StasisStart", via_dialplan))
        await hang_up_and_wait(ari, via_dialplan)

        # ...and with `softphone` as the trunk name, the way the dialer dials.
        dial = trunk.target("+12025550199", "softphone", "+15551230000")
        direct = str(uuid.uuid4())
        await ari.request("POST", "/channels", endpoint=dial.endpoint, callerId=dial.caller_id,
                          app=sandbox.ari_app, channelId=direct, timeout="15")
        start = await ari.wait_for(for_channel("StasisStart", direct))
        assert start["channel"]["caller"]["number"] == "+15551230000"
        await hang_up_and_wait(ari, direct)

        assert phone.finish() == 0, phone.tail()
    finally:
        phone.stop()
    counters = phone.counters()
    assert counters["SuccessfulCall(C)"] == "2", counters
