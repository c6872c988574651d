"""The seed's import path of the web module base classes."""
__all__ = ['AuthorizationError', 'Configuration', 'HTMLMixin', 'IllFormedRequest', 'InvalidRequest',
           'MissingParameter', 'NotFound', 'TryAgain', 'User', 'WebModule', 'yesno']

from webmodules.base import (AuthorizationError, Configuration, HTMLMixin, IllFormedRequest,  # noqa: F401
                             InvalidRequest, MissingParameter, NotFound, TryAgain, User, WebModule, yesno)
