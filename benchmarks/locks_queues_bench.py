"""The Python side of //locks:locks_benchmark and //queues:queues_benchmark.

The same operations with asyncio.Lock / asyncio.Queue and Tornado's
tornado.locks.Lock / tornado.queues.Queue (Debian's python3-tornado, if
installed), each on a plain asyncio event loop, in ns per operation (best
of --repeat runs). Run with Debian's interpreter:

    /usr/bin/python3 benchmarks/locks_queues_bench.py
"""

import argparse
import asyncio
import time

try:
    import tornado
    import tornado.locks
    import tornado.queues
except ImportError:  # asyncio only
    tornado = None


async def lock_uncontended(lock_cls, n):
    lock = lock_cls()
    t0 = time.perf_counter()
    for _ in range(n):
        async with lock:
            pass
    return time.perf_counter() - t0


async def lock_round_trip(lock_cls, n):
    """One op: the lock goes to a partner task and comes back."""
    lock = lock_cls()
    stop = False

    async def partner():
        while not stop:
            await lock.acquire()
            lock.release()

    await lock.acquire()
    other = asyncio.ensure_future(partner())
    await asyncio.sleep(0)  # the partner now waits for the lock
    lock.release()
    t0 = time.perf_counter()
    for _ in range(n):
        await lock.acquire()
        lock.release()
    elapsed = time.perf_counter() - t0
    stop = True
    await other
    return elapsed


async def queue_nowait(queue_cls, n):
    q = queue_cls()
    t0 = time.perf_counter()
    for i in range(n):
        q.put_nowait(i)
        q.get_nowait()
    return time.perf_counter() - t0


async def queue_producer_consumer(queue_cls, n, maxsize):
    q = queue_cls(maxsize)
    total = 0

    async def consumer():
        nonlocal total
        while True:
            item = await q.get()
            if item < 0:
                return
            total += item
            q.task_done()

    c = asyncio.ensure_future(consumer())
    t0 = time.perf_counter()
    for i in range(n):
        await q.put(i)
    await q.join()
    elapsed = time.perf_counter() - t0
    await q.put(-1)
    await c
    return elapsed


def best(fn, n, repeat):
    times = []
    for _ in range(repeat):
        times.append(asyncio.run(fn(n)))
    return min(times) / n * 1e9


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    impls = [("asyncio", asyncio.Lock, asyncio.Queue)]
    if tornado is not None:
        impls.append(("tornado " + tornado.version, tornado.locks.Lock, tornado.queues.Queue))
    cases = [
        ("lock acquire/release, uncontended", lambda L, Q: lambda n: lock_uncontended(L, n)),
        ("lock round trip between two tasks", lambda L, Q: lambda n: lock_round_trip(L, n)),
        ("queue put_nowait+get_nowait", lambda L, Q: lambda n: queue_nowait(Q, n)),
        ("queue producer/consumer, maxsize 1",
         lambda L, Q: lambda n: queue_producer_consumer(Q, n, 1)),
        ("queue producer/consumer, maxsize 100",
         lambda L, Q: lambda n: queue_producer_consumer(Q, n, 100)),
    ]
    import sys
    print("python", sys.version.split()[0])
    for name, make in cases:
        row = []
        for impl, lock_cls, queue_cls in impls:
            row.append("%s %.0f ns" % (impl, best(make(lock_cls, queue_cls), args.n, args.repeat)))
        print("%-40s %s" % (name, " | ".join(row)))


if __name__ == "__main__":
    main()
