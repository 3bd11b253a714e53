"""Celery app of the bench: one no-op task, results stored in the Redis backend.

Configured from the environment by bench/peers/celery.ts:
BENCH_BROKER, BENCH_BACKEND, BENCH_KEYPREFIX (kombu global_keyprefix), BENCH_QUEUE.
"""
import os

from celery import Celery

from bench_common import define_noop

app = Celery('bench', broker=os.environ['BENCH_BROKER'], backend=os.environ['BENCH_BACKEND'])
app.conf.update(
    broker_transport_options={'global_keyprefix': os.environ['BENCH_KEYPREFIX']},
    task_default_queue=os.environ.get('BENCH_QUEUE', 'bench'),
    worker_send_task_events=False,
    # No pidbox (remote control) queues: every key of the run stays under its prefix.
    worker_enable_remote_control=False,
    worker_hijack_root_logger=False,
)

noop = define_noop(app)
