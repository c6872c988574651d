"""A built-in cycle for the tests of execution/builtins.py: it reads the image in its forked
process and the commit writes what the result says."""
import os
import time

from inventory.objects import Dataset, ObjectError


def run(inventory, params):
    print('cycle started', flush=True)
    time.sleep(params.get('sleep', 0))
    if params.get('fail'):
        raise RuntimeError('the cycle broke')
    return {'mark': params['mark'], 'datasets': len(inventory.datasets), 'uid': os.getuid()}


def commit(result, context):
    if result['mark'] == 'refuse':
        raise ObjectError('the commit refused it')
    applied = context.apply(lambda inv: inv.update(Dataset(f'/Cycle/{result["mark"]}/RAW')))
    return {'message': f'made /Cycle/{result["mark"]}/RAW', 'seq': applied.seq, 'num_changes': applied.num_changes,
            'seen': result}
