"""Log formats: readable lines by default, or one JSON object per line (DYNAMO_LOG_FORMAT=json)
with the time, level, logger, message and any `extra` fields the call gave."""
import json
import logging

_STANDARD = set(vars(logging.LogRecord('', 0, '', 0, '', (), None))) | {'message', 'asctime'}


class JSONFormatter(logging.Formatter):
    def format(self, record):
        entry = {'time': self.formatTime(record, '%Y-%m-%dT%H:%M:%S'), 'level': record.levelname,
                 'logger': record.name, 'message': record.getMessage()}
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith('_')})
        if record.exc_info:
            entry['exception'] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)
