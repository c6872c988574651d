"""Internal: copy the primary's store into this server's own database, in a process of its own.

A joining secondary runs it (execution/cluster/storecopy.py) so that the copy's row formatting does not share
an interpreter lock with the loading of the image. Protocol on stdout: `snapshot` once its read
view is open, `rows TABLE COUNT` as it goes, `done SEQ DIGEST` at the end.
"""
import sys

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "(internal) Copy the primary's store into the local database; used by a joining secondary."

    def handle(self, *args, **options):
        from execution.cluster import storecopy

        def say(line):
            sys.stdout.write(line + '\n')
            sys.stdout.flush()
        src = storecopy.open_snapshot()
        say('snapshot')
        seq, digest = storecopy.copy_store(src, progress=lambda table, n: say(f'rows {table} {n}'))
        say(f'done {seq} {digest}')
