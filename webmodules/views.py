"""/data dispatch: JSON answers from the RAM image in the standard envelope."""
from rest_framework.response import Response
from rest_framework.views import APIView

from execution.runtime import RUNTIME
from inventory import selectors


def envelope(data=None, message='', result='OK', status=200):
    body = {'result': result, 'message': message}
    if data is not None:
        body['data'] = data
    return Response(body, status=status)


class InventoryView(APIView):
    """Base for views over the RAM image: 503 while the image is loading."""
    selector = None
    params = ()

    def get(self, request):
        if RUNTIME.inventory is None:
            return envelope(message='the inventory is loading; try again shortly',
                            result='Service Unavailable', status=503)
        kwargs = {name: request.query_params.get(param) for param, name in self.params}
        with RUNTIME.lock.read():
            data = type(self).selector(RUNTIME.inventory, **kwargs)
        return envelope(data, message=f'{len(data)} found')


class DatasetsView(InventoryView):
    """Datasets whose name matches `dataset` (wildcards, comma-separated)."""
    selector = selectors.datasets
    params = (('dataset', 'pattern'),)


class SitesView(InventoryView):
    """Sites matching `site`, with quota, usage and projected usage per partition (bytes)."""
    selector = selectors.sites
    params = (('site', 'pattern'), ('partition', 'partition'))


class GroupsView(InventoryView):
    """Groups matching `group`."""
    selector = selectors.groups
    params = (('group', 'pattern'),)


class ApplicationsView(APIView):
    """Application records: all (filters `state`, `user`, `title`, `limit`), or one with `id`."""

    def get(self, request):
        from execution.appserver import app_record
        from execution.models import Application
        qs = Application.objects.select_related('user').order_by('-id')
        app_id = request.query_params.get('id')
        if app_id is not None:
            if not app_id.isdigit():
                return envelope(message=f'parameter id must be an integer, got {app_id!r}',
                                result='Bad Request', status=400)
            app = qs.filter(id=int(app_id)).first()
            if app is None:
                return envelope(message=f'no application {app_id}', result='Not Found', status=404)
            return envelope([app_record(app)], message='1 found')
        for param, field in (('state', 'state'), ('user', 'user__username'), ('title', 'title')):
            if request.query_params.get(param):
                qs = qs.filter(**{field: request.query_params[param]})
        limit = request.query_params.get('limit', '100')
        if not limit.isdigit():
            return envelope(message=f'parameter limit must be an integer, got {limit!r}',
                            result='Bad Request', status=400)
        data = [app_record(a) for a in qs[:int(limit)]]
        return envelope(data, message=f'{len(data)} found')


class ApplicationOutputView(APIView):
    """The output (stdout and stderr) of application `id`, live while it runs."""

    def get(self, request):
        import os
        from execution.models import Application
        from execution.runner import OUTPUT_FILE
        app_id = request.query_params.get('id', '')
        if not app_id.isdigit():
            return envelope(message='parameter id (an integer) is required', result='Bad Request', status=400)
        app = Application.objects.filter(id=int(app_id)).first()
        if app is None:
            return envelope(message=f'no application {app_id}', result='Not Found', status=404)
        output = app.output
        if not output and app.work_dir:
            try:
                with open(os.path.join(app.work_dir, OUTPUT_FILE), encoding='utf-8', errors='replace') as f:
                    output = f.read()
            except OSError:
                output = ''
        return envelope({'id': app.id, 'state': app.state, 'output': output}, message=app.state)
