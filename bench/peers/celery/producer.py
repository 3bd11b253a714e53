"""Producer side of the Celery bench; prints one JSON object on stdout.

usage: producer.py one-by-one N | batched N | round-trip N WARMUP
- one-by-one: N x noop.apply_async() (Celery acquires a producer from its pool per call).
- batched:    N x noop.apply_async(producer=p) inside one `app.producer_or_acquire()`
              (Celery has no pipelined bulk publish; this is the cheapest loop it offers).
- round-trip: WARMUP + N sequential noop.apply_async().get(); latencies of the last N.
Connection setup happens before the clock starts.
"""
import json
import sys
import time

from bench_tasks import app, noop


def main():
    mode, n = sys.argv[1], int(sys.argv[2])
    with app.producer_or_acquire() as p:
        p.connection.ensure_connection()
    app.backend.client.ping()
    ids = []
    if mode == 'one-by-one':
        t0 = time.perf_counter()
        for _ in range(n):
            ids.append(noop.apply_async().id)
        out = {'seconds': time.perf_counter() - t0}
    elif mode == 'batched':
        t0 = time.perf_counter()
        with app.producer_or_acquire() as producer:
            for _ in range(n):
                ids.append(noop.apply_async(producer=producer).id)
        out = {'seconds': time.perf_counter() - t0}
    elif mode == 'round-trip':
        warmup = int(sys.argv[3])
        samples = []
        deadline = time.perf_counter() + float(sys.argv[4]) if len(sys.argv) > 4 else None
        for i in range(warmup + n):
            t0 = time.perf_counter()
            r = noop.apply_async()
            r.get(timeout=10)
            ids.append(r.id)
            if i >= warmup:
                samples.append((time.perf_counter() - t0) * 1000)
            if deadline is not None and time.perf_counter() > deadline:
                break
        out = {'samples_ms': samples}
    else:
        raise SystemExit('unknown mode ' + mode)
    out['ids'] = ids
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    main()
