"""Celery tasks of the file operations (queue `fileops`): a message is one worker's turn to claim a
batch of queued tasks and carry it out; one that finds a full batch sends the next turn itself."""
from celery import shared_task

_worker = None


def _process_worker():
    """One engine per worker process (its gfal2 contexts and threads live as long as the process)."""
    global _worker
    if _worker is None:
        from fileops.worker import Worker
        _worker = Worker()
    return _worker


@shared_task(name='fileops.work', acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def work():
    worker = _process_worker()
    claimed = worker.run_batch()
    if claimed >= worker.batch:
        work.apply_async(queue='fileops')
    return claimed


@shared_task(name='fileops.consistency_check', acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def consistency_check(report_id):
    from fileops import consistency
    return consistency.check_requested(report_id=report_id)
