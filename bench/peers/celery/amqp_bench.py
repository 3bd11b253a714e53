"""Celery side of the RabbitMQ bench (bench/amqp.ts): one no-op task, rpc:// results, late acks.

Configured from the environment by bench/peers/amqp-peers.ts:
BENCH_BROKER (amqp URL of the run's vhost), BENCH_QUEUE, BENCH_QUEUE_TYPE (classic | quorum:
Celery 5.5+'s task_default_queue_type, so run with the 5.6 oracle first on PYTHONPATH).

As a worker: `celery -A amqp_bench worker ...`; prints BENCH-READY once consuming.
As the round-trip client: `python3 amqp_bench.py round-trip N WARMUP` prints one JSON object,
`{"samples_ms": [...]}`, the latencies of N sequential `noop.apply_async().get()` after WARMUP
unmeasured ones; the connection is made before the first.
"""
import json
import os
import sys
import time

from celery import Celery

from bench_common import define_noop

app = Celery('bench', broker=os.environ['BENCH_BROKER'], backend='rpc://')
conf = dict(
    task_acks_late=True,
    worker_prefetch_multiplier=4,
    task_default_queue=os.environ['BENCH_QUEUE'],
    worker_send_task_events=False,
    # No pidbox queue: the run's vhost holds only what the measurement needs.
    worker_enable_remote_control=False,
    worker_hijack_root_logger=False,
)
if os.environ.get('BENCH_QUEUE_TYPE') == 'quorum':
    conf['task_default_queue_type'] = 'quorum'
app.conf.update(**conf)

noop = define_noop(app)


def round_trip(n, warmup):
    with app.producer_or_acquire() as p:
        p.connection.ensure_connection()
    samples = []
    for i in range(warmup + n):
        t0 = time.perf_counter()
        noop.apply_async().get(timeout=30)
        if i >= warmup:
            samples.append((time.perf_counter() - t0) * 1000)
    json.dump({'samples_ms': samples}, sys.stdout)


if __name__ == '__main__':
    if sys.argv[1:2] != ['round-trip']:
        raise SystemExit('usage: amqp_bench.py round-trip N WARMUP')
    round_trip(int(sys.argv[2]), int(sys.argv[3]))
