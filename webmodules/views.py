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
