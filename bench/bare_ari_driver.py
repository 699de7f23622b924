"""The baseline of bench/dialer.py: a bare ARI driver, no database, no bookkeeping.

    python bench/bare_ari_driver.py ARI_URL USER PASSWORD APP TRUNK CALLS CPS LIMIT MEDIA

Originates CALLS calls at CPS per second (at most LIMIT at once, like the dialer's
max_concurrent), plays MEDIA on StasisStart and hangs up on PlaybackFinished. Prints one JSON
line: calls ended, seconds from the first originate to the last end, CPU ms per call.
"""

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Coroutine
from typing import Any

import aiohttp


async def main(url: str, user: str, password: str, app: str, trunk: str, calls: int, cps: float,
               limit: int, media: str) -> None:
    auth = {"Authorization": aiohttp.encode_basic_auth(user, password)}
    # The same connection pool as the dialer's ARI client.
    async with aiohttp.ClientSession(headers=auth,
                                     connector=aiohttp.TCPConnector(limit=200)) as s:
        async def req(method: str, path: str, **params: str | int) -> None:
            async with s.request(method, f"{url}/ari{path}", params=params) as resp:
                await resp.read()

        ws = await s.ws_connect(url.replace("http", "ws", 1) + "/ari/events", params={"app": app})
        slots, ended, done = asyncio.Semaphore(limit), [0], asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()

        def spawn(coro: Coroutine[Any, Any, None]) -> None:
            tasks.add(task := asyncio.create_task(coro))
            task.add_done_callback(tasks.discard)

        async def events() -> None:
            async for message in ws:
                event = json.loads(message.data)
                if event["type"] == "StasisStart":
                    spawn(req("POST", f"/channels/{event['channel']['id']}/play", media=media))
                elif event["type"] == "PlaybackFinished":
                    spawn(req("DELETE", f"/channels/{event['playback']['target_uri'][8:]}"))
                elif event["type"] == "ChannelDestroyed":
                    slots.release()
                    ended[0] += 1
                    if ended[0] == calls:
                        done.set()

        reader = asyncio.create_task(events())
        cpu, started = os.times(), time.monotonic()
        for i in range(calls):
            await slots.acquire()
            await asyncio.sleep(max(0.0, started + i / cps - time.monotonic()))
            spawn(req("POST", "/channels", endpoint=f"PJSIP/+1202555{1000 + i:04d}@{trunk}",
                      app=app, channelId=str(uuid.uuid4()), callerId="+12025550100", timeout=30))
        await done.wait()
        seconds, now = time.monotonic() - started, os.times()
        reader.cancel()
    cpu_ms = ((now.user - cpu.user) + (now.system - cpu.system)) * 1000 / calls
    print(json.dumps({"calls": ended[0], "seconds": seconds, "cpu_ms_per_call": cpu_ms}))


if __name__ == "__main__":
    url, user, password, app, trunk, calls, cps, limit, media = sys.argv[1:]
    asyncio.run(main(url, user, password, app, trunk, int(calls), float(cps), int(limit), media))
