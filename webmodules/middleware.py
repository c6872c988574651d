"""Counts and times every web request for /metrics, labelled by kind (data, web, admin, ...),
module and status. Module names come from the registry, so the labels stay few."""
import time

from execution.metrics import METRICS
from webmodules.registry import get_registry


class MetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        start = time.monotonic()
        response = self.get_response(request)
        parts = request.path.strip('/').split('/')
        kind = parts[0] if parts and parts[0] in ('data', 'web', 'admin', 'static', 'metrics') else 'other'
        module = ''
        if kind in ('data', 'web') and len(parts) > 1:
            module = parts[1] if parts[1] in get_registry().modules else 'unknown'
        METRICS.web_request(kind=kind, module=module, status=response.status_code, seconds=time.monotonic() - start)
        return response
