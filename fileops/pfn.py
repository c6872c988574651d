"""LFN -> PFN: a site's filename mapping when it has one for the protocol, else backend + LFN.

Pure string work (regular expressions over names); it never touches storage. The mapping format is the
inventory's `Site.filename_mapping`: {protocol: [chain, ...]}, a chain being [[lfn regex, pfn format], ...].
"""
from collections.abc import Mapping, Sequence

from inventory.objects.site import map_lfn

DEFAULT_PROTOCOL = 'gfal2'  # the original's backends always asked for this protocol's mapping


class PfnError(ValueError):
    """No PFN for this LFN at this site: no backend and no mapping, or no chain of the mapping matched."""


Chain = Sequence[Sequence[str]]


def resolve_pfn(lfn: str, *, backend: str = '', filename_mapping: Mapping[str, Sequence[Chain]] | None = None,
                protocol: str = DEFAULT_PROTOCOL) -> str:
    """The PFN of `lfn` at a site given by its backend URL and filename mapping.

    With chains for `protocol`, the first chain whose every step matches wins: each step full-matches
    its regex against the current string and formats its template with the captured groups ({0}, {1},
    ...). A mapping that has chains for the protocol but none matching is an error, not a fallback to
    the backend: the site said how its names look, and this LFN is not one of them.
    """
    chains = (filename_mapping or {}).get(protocol)
    if chains:
        pfn = map_lfn(chains, lfn)
        if pfn is None:
            raise PfnError(f'no {protocol} mapping chain matches {lfn!r}')
        return pfn
    if not backend:
        raise PfnError(f'no backend and no {protocol} mapping to place {lfn!r}')
    return join_backend(backend, lfn)


def join_backend(backend: str, lfn: str) -> str:
    """backend + LFN with one slash between them (LFNs are absolute, /store/...).

    Only one trailing slash of the backend goes: 'file:///' and 'root://host//' keep their roots.
    """
    return _base(backend) + (lfn if lfn.startswith('/') else '/' + lfn)


def _base(backend: str) -> str:
    return backend[:-1] if backend.endswith('/') else backend


def lfn_of(pfn: str, *, backend: str) -> str | None:
    """The LFN of a PFN under a backend-only site (the inverse of join_backend), None if outside it.

    Used by consistency checks that list storage; sites with regex mappings cannot be inverted in
    general and need a listing in LFN space from their own tools.
    """
    prefix = _base(backend)
    if not pfn.startswith(prefix + '/'):
        return None
    return pfn[len(prefix):]
