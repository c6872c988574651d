"""Services a server runs beside its loop when the site runs no broker (the embedded default):
the schedule of periodic cycles, the file-operation workers. Their apps register them in
AppConfig.ready(); `runserver_dynamo` starts them and stops them with the server.

A service is `start(stop_event) -> handle`, where the handle has `join(timeout)`; it must end
once stop_event is set. It runs threads or child processes of its own, never in the server loop.
"""
import logging

log = logging.getLogger('dynamo.server')
SERVICES = {}


def register(name, start):
    SERVICES[name] = start


def start_all(stop_event):
    handles = []
    for name, start in sorted(SERVICES.items()):
        try:
            handle = start(stop_event)
        except Exception:   # noqa: BLE001 - a broken service must not keep the server down
            log.exception('embedded service %s did not start', name)
            continue
        if handle is not None:
            log.info('embedded service %s started', name)
            handles.append((name, handle))
    return handles


def stop_all(handles, timeout=15):
    for name, handle in handles:
        handle.join(timeout)
