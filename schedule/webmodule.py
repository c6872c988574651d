"""The `schedule` web module: /data/schedule (every entry with its last run, outcome and next run),
/data/schedule/runs (`entry`, `state`, `limit`) and the /web/schedule page. Reads only (open runs
show their application's state; the schedulers record it)."""
from schedule import selectors
from webmodules.base import HTMLMixin, IllFormedRequest, Param, WebModule
from webmodules.schemas import ANY, BOOLEAN, INTEGER, ISO_TIME, NUMBER, STRING, array, nullable, obj

_RUN = obj({'id': INTEGER, 'entry': STRING, 'cycle': STRING, 'slot': nullable(ISO_TIME), 'manual': BOOLEAN,
            'by': STRING, 'state': STRING, 'application': nullable(INTEGER), 'message': nullable(STRING),
            'result': ANY, 'created': nullable(ISO_TIME), 'finished': nullable(ISO_TIME)},
           required=['id', 'entry', 'state'], extra=True)
_ENTRY = obj({'name': STRING, 'cycle': STRING, 'interval': NUMBER, 'every': STRING, 'file': STRING, 'offset': NUMBER,
              'test': BOOLEAN, 'comment': STRING, 'params': {'type': 'object'}, 'spec': STRING, 'enabled': BOOLEAN,
              'disabled': STRING, 'last_run': nullable(_RUN), 'last_outcome': nullable(_RUN), 'running': BOOLEAN,
              'next_run': nullable(ISO_TIME)}, required=['name', 'cycle', 'interval', 'enabled'], extra=True)


class Entries(WebModule):
    """Every schedule entry: its cycle, interval, file, whether it runs (and why not), its last
    run, its last outcome and its next run (UNIX slots; `mode` says who runs it)."""
    parameters = ()
    response = array(_ENTRY)

    def run(self, caller, request, inventory):
        self.message = f'run by {selectors.mode()}'
        return selectors.overview()


class Runs(WebModule):
    """Runs of the schedule, newest first: `entry`, `state`, `limit` (default 100)."""
    parameters = (Param('entry', description='the schedule entry'), Param('state', description='the run\'s state'),
                  Param('limit', 'integer', default=100, description='at most this many (1 to 10000)'))
    response = array(_RUN)

    def run(self, caller, request, inventory):
        limit = request.get('limit', '100')
        if not isinstance(limit, str) or not limit.isdigit() or not 0 < int(limit) <= 10000:
            raise IllFormedRequest('limit', limit, 'expected a number from 1 to 10000')
        entry, state = request.get('entry'), request.get('state')
        return selectors.runs(entry=entry if isinstance(entry, str) else None,
                              state=state if isinstance(state, str) else None, limit=int(limit))


class SchedulePage(HTMLMixin, WebModule):
    """Every entry with its last run, outcome and next run, and the latest runs."""
    title = 'Schedule'
    template = 'schedule/schedule.html'

    def run(self, caller, request, inventory):
        return self.page(caller=caller, context={'entries': selectors.overview(), 'runs': selectors.runs(limit=30),
                                                 'mode': selectors.mode()})


export_data = {'': Entries, 'entries': Entries, 'runs': Runs}
export_web = {'': SchedulePage}
