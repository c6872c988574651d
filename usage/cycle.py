"""The built-in cycle `usage`: `run` measures the RAM image in the cycle's forked read-only
process; `commit` stores the sample in the server and prunes what is older than the retention.
The schedule runs it at a fixed interval (entry `usage`, hourly by default)."""
import time

from usage import services
from usage.measure import measure


def run(inventory, params):
    """params: keep_days (retention; default DYNAMO_USAGE_KEEP_DAYS or 400)."""
    rows = measure(inventory)
    print(f'{len(rows)} site partitions measured', flush=True)
    return {'time': time.time(), 'rows': rows, 'keep_days': params.get('keep_days')}


def commit(result, context):
    stored = services.samples_record(when=result['time'], rows=result['rows'])
    pruned = services.samples_prune(keep_days=result.get('keep_days'))
    return {'samples': stored, 'pruned': pruned, 'time': result['time'],
            'message': f'{stored} usage samples recorded' + (f', {pruned} older ones pruned' if pruned else '')}
