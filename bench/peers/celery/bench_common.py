"""What both Celery apps of the bench share (bench_tasks.py on Redis, amqp_bench.py on RabbitMQ):
the no-op task the harness sends, and the line it waits for before it starts its clock."""
from celery.signals import worker_ready


def define_noop(app):
    """Registers `bench.noop` on `app` and returns it."""

    @app.task(name='bench.noop')
    def noop():
        return None

    return noop


@worker_ready.connect
def _announce_ready(**_kwargs):
    # The harness starts its clock here (the worker logs at WARNING, so no "ready." line).
    print('BENCH-READY', flush=True)
