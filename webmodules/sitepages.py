"""The site's own HTML views (not web modules): the index of /web, the interactive API page with
its Swagger UI assets (shipped by the drf-spectacular-sidecar package, served from it), and the
404 and 500 pages of whatever no module answers."""
import json
import mimetypes
from pathlib import Path

from django.http import FileResponse, Http404, HttpResponse
from django.template.loader import render_to_string

from webmodules import identity, openapi
from webmodules.registry import get_registry
from webmodules.views import error_page

SWAGGER_ASSETS = ('swagger-ui.css', 'swagger-ui-bundle.js', 'swagger-ui-standalone-preset.js')


def _caller(request):
    try:
        return identity.caller_of_request(request)
    except Exception:   # an unknown certificate still sees the index and the API page
        return None


def web_home(request):
    """/web/: every page of every loaded web module."""
    modules = []
    for name, info in sorted(get_registry().modules.items()):
        pages = []
        for page, cls in sorted(info.web.items()):
            url = f'/web/{name}/{page}'
            pages.append({'url': url, 'title': getattr(cls, 'title', '') or page or name,
                          'summary': openapi.summary(cls.__doc__, '')})
        if pages:
            modules.append({'name': name, 'summary': openapi.summary(info.doc, ''), 'pages': pages})
    body = render_to_string('webmodules/web_index.html', {'modules': modules})
    return HttpResponse(render_to_string('webmodules/page.html', {
        'title': 'Pages', 'body': body, 'caller': _caller(request), 'request_path': request.path}))


def swagger_dir():
    """The Swagger UI distribution of drf-spectacular-sidecar, or None without the package."""
    try:
        import drf_spectacular_sidecar
    except ImportError:
        return None
    return Path(drf_spectacular_sidecar.__file__).resolve().parent / 'static' / 'drf_spectacular_sidecar' / 'swagger-ui-dist'


def api_page(request):
    """/api/: the OpenAPI document in Swagger UI (try the endpoints from the browser)."""
    body = render_to_string('webmodules/api.html', {'available': swagger_dir() is not None,
                                                    'num_paths': len(openapi.document(get_registry())['paths'])})
    return HttpResponse(render_to_string('webmodules/page.html', {
        'title': 'Data API', 'body': body, 'caller': _caller(request), 'request_path': request.path,
        'main_class': 'wide', 'stylesheets': (), 'scripts': ()}))


def api_asset(request, name):
    directory = swagger_dir()
    if directory is None or name not in SWAGGER_ASSETS:
        raise Http404(f'no API page asset {name}')
    response = FileResponse(open(directory / name, 'rb'), content_type=mimetypes.guess_type(name)[0] or 'text/plain')
    response['Cache-Control'] = 'public, max-age=86400'
    return response


def _wants_json(request):
    accept = request.META.get('HTTP_ACCEPT', '')
    return request.path.startswith('/data/') or ('application/json' in accept and 'text/html' not in accept)


def page_not_found(request, exception=None):
    message = f'no page at {request.path}'
    if _wants_json(request):
        return HttpResponse(json.dumps({'result': 'Not Found', 'message': message}), status=404,
                            content_type='application/json')
    return HttpResponse(error_page(request, 404, 'Not Found', message), status=404)


def server_error(request):
    message = 'internal error (see the server log)'
    if _wants_json(request):
        return HttpResponse(json.dumps({'result': 'Internal Server Error', 'message': message}), status=500,
                            content_type='application/json')
    try:
        return HttpResponse(error_page(request, 500, 'Internal Server Error', message), status=500)
    except Exception:   # the layout itself failed: a plain page rather than nothing
        return HttpResponse('<!DOCTYPE html><title>500 Internal Server Error</title><h1>500 Internal Server Error</h1>',
                            status=500)
