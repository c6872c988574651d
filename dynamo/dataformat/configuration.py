"""The original's `Configuration`: a dict with attribute access and $(ENV) expansion, made from a
dict, keyword arguments, a JSON file path or an open JSON file."""
import copy
import json

from webmodules.base import Configuration as _WebConfiguration


class Configuration(_WebConfiguration):
    def __init__(self, config=None, **kwargs):
        if isinstance(config, str):
            with open(config) as f:
                config = json.load(f)
        elif hasattr(config, 'read'):
            config = json.load(config)
        super().__init__(config, **kwargs)

    def clone(self):
        return copy.deepcopy(self)
