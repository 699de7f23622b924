"""The ARI simulator's own contract, through the dialer's real ARI client: what the dialer does
not exercise yet (several media in one play) and the refusals it relies on."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path
from typing import Any

import pytest

from bench.ari_simulator import PASSWORD, USER, Behaviour, Fate, Simulator
from voxlancer.dialer.ari import CONNECTED, EVENTS, AriClient, AriConfig, AriError
from voxlancer.dialer.calls import ari_time
from voxlancer.localdb import free_port


def silence(path: Path, seconds: float) -> str:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * int(8000 * seconds))
    return f"sound:{path.with_suffix('')}"


async def test_the_dialers_event_filter_leaves_only_the_events_it_acts_on(tmp_path):
    media = silence(tmp_path / "a.wav", 0.2)
    async with Simulator(Behaviour(), [free_port()]) as sim:
        sim.nodes[0].fate_for = lambda _number, _timeout: Fate("answer", 0.1)
        async with AriClient(AriConfig(sim.urls[0], USER, PASSWORD, "app")) as ari:
            stop = asyncio.Event()
            seen: list[dict[str, Any]] = []
            events = ari.events(stop, only=EVENTS)
            assert await anext(events) is CONNECTED
            await ari.originate(endpoint="PJSIP/+12025550142@sim", channel_id="c1",
                                caller_id="+12025550100", ring_seconds=5)
            while not seen or seen[-1]["type"] != "ChannelDestroyed":
                event = await asyncio.wait_for(anext(events), 5)
                seen.append(event)
                if event["type"] == "StasisStart":
                    await ari.play("c1", media, "p1")
                elif event["type"] == "PlaybackFinished":
                    await ari.hangup("c1")
            stop.set()
    # No StasisEnd: the dialer does not act on it, so Asterisk does not send it.
    assert [e["type"] for e in seen] == ["ChannelStateChange", "ChannelStateChange",
                                         "StasisStart", "PlaybackStarted", "PlaybackFinished",
                                         "ChannelDestroyed"]


async def test_several_media_play_in_turn_for_their_files_lengths(tmp_path):
    first, second = silence(tmp_path / "a.wav", 0.3), silence(tmp_path / "b.wav", 0.5)
    async with Simulator(Behaviour(), [free_port()]) as sim:
        sim.nodes[0].fate_for = lambda _number, _timeout: Fate("answer", 0.1)
        config = AriConfig(sim.urls[0], USER, PASSWORD, "app")
        async with AriClient(config) as ari:
            stop = asyncio.Event()
            seen: list[dict[str, Any]] = []
            events = ari.events(stop)
            assert await anext(events) is CONNECTED
            await ari.originate(endpoint="PJSIP/+12025550142@sim", channel_id="c1",
                                caller_id="+12025550100", ring_seconds=5)
            while not seen or seen[-1]["type"] != "ChannelDestroyed":
                event = await asyncio.wait_for(anext(events), 5)
                seen.append(event)
                if event["type"] == "StasisStart":
                    await ari.play("c1", f"{first},{second}", "p1")
                elif event["type"] == "PlaybackFinished":
                    await ari.hangup("c1")
            stop.set()
    kinds = [e["type"] for e in seen]
    assert kinds == ["ChannelStateChange", "ChannelStateChange", "StasisStart",
                     "PlaybackStarted", "PlaybackContinuing", "PlaybackFinished", "StasisEnd",
                     "ChannelDestroyed"]
    assert [e["channel"]["state"] for e in seen[:2]] == ["Ringing", "Up"]
    started, continuing, finished = seen[3:6]
    assert started["playback"]["media_uri"] == first
    assert started["playback"]["next_media_uri"] == second
    assert continuing["playback"]["media_uri"] == second
    assert finished["playback"]["state"] == "done"
    played = _seconds(finished["timestamp"]) - _seconds(started["timestamp"])
    assert played == pytest.approx(0.8, abs=0.1)
    assert (seen[-1]["cause"], seen[-1]["cause_txt"]) == (16, "Normal Clearing")


async def test_refusals_the_dialer_relies_on():
    async with Simulator(Behaviour(), [free_port()]) as sim:
        sim.nodes[0].fate_for = lambda _number, _timeout: Fate("no_answer", 5)
        async with AriClient(AriConfig(sim.urls[0], USER, "wrong password", "app")) as ari:
            with pytest.raises(AriError) as refused:
                await ari.channels()
            assert refused.value.http_status == 401
        async with AriClient(AriConfig(sim.urls[0], USER, PASSWORD, "app")) as ari:
            # Gone or unknown: None, as for Asterisk's 404 and 422.
            assert await ari.subscribe("nobody") is False
            assert await ari.channel("nobody") is None
            assert await ari.playback("nothing") is None
            await ari.originate(endpoint="PJSIP/+12025550142@sim", channel_id="c2",
                                caller_id="+12025550100", ring_seconds=5,
                                context="voxlancer-amd",
                                variables={"VOXLANCER_STASIS_APP": "app"})
            assert await ari.subscribe("c2") is True
            assert await ari.variable("c2", "VOXLANCER_STASIS_APP") == "app"
            # Not answered, so not in Stasis: nothing can play on it yet.
            with pytest.raises(AriError) as conflict:
                await ari.play("c2", "sound:x", "p")
            assert conflict.value.http_status == 409
            assert [c["id"] for c in await ari.channels()] == ["c2"]


def _seconds(timestamp: str) -> float:
    return ari_time(timestamp).timestamp()
