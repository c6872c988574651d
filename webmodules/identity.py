"""Who is calling over HTTP: the DN of the verified client certificate (or of a trusted proxy's
header), resolved to a Caller by the accounts app. Plain HTTP callers are anonymous."""
from django.conf import settings

from accounts import selectors
from accounts.dn import normalize_dn
from dynamo_site.config import split_list
from webmodules.base import AuthorizationError


def dn_of_request(request):
    meta = request.META
    if meta.get('wsgi.url_scheme') == 'https' and meta.get('SSL_CLIENT_VERIFY') == 'SUCCESS':
        return normalize_dn(meta.get('SSL_CLIENT_S_DN'))
    header = settings.DYNAMO_WEB_DN_HEADER
    if header and meta.get('REMOTE_ADDR') in split_list(settings.DYNAMO_WEB_TRUSTED_PROXIES):
        value = meta.get('HTTP_' + header.upper().replace('-', '_'))
        if value:
            return normalize_dn(value)
    return None


def caller_of_request(request):
    try:
        return selectors.caller_for_dn(dn_of_request(request))
    except selectors.UnknownUser as exc:
        raise AuthorizationError(str(exc)) from None
