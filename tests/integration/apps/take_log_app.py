"""t_take_log's server: app_serve.serve_asyncio, and two tasks made at
start-up, in no request. GET /<tag>/<id> puts 300 items on a second
queue, then <id> on the first. The worker, batch_drain_app's "took"
consumer, takes an item from the first queue, logs "site=crowd id=<id>",
sleeps 10 ms, then takes what else is queued there (get_nowait until
QueueEmpty), logging the same for each;
meanwhile the other task takes the second queue's items, hundreds of
takes on the same loop between two of the worker's."""
import asyncio

from app_serve import serve_asyncio
from batch_drain_app import took


async def main():
    q, noise = asyncio.Queue(), asyncio.Queue()

    async def take_noise():
        while True:
            await noise.get()

    loop = asyncio.get_running_loop()
    loop.create_task(took(q, "crowd", None))
    loop.create_task(take_noise())

    async def work(rid):
        for _ in range(300):
            noise.put_nowait(None)
        q.put_nowait(rid)

    await serve_asyncio(work)


asyncio.run(main())
