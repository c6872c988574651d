"""The original's history records: what a copy or deletion operation did at one site. Plain data;
this project keeps its own decision history elsewhere."""


class HistoryRecord:
    OP_COPY, OP_DELETE = 0, 1
    ST_ENROUTE, ST_COMPLETE, ST_CANCELLED = 1, 2, 3
    __slots__ = ('operation_type', 'operation_id', 'site_name', 'timestamp', 'replicas')

    def __init__(self, operation_type, operation_id, site_name, timestamp=0, replicas=None):
        self.operation_type = operation_type
        self.operation_id = operation_id
        self.site_name = site_name
        self.timestamp = timestamp
        self.replicas = list(replicas or [])

    def __repr__(self):
        kind = 'copy' if self.operation_type == self.OP_COPY else 'deletion'
        return f'HistoryRecord({kind} {self.operation_id} at {self.site_name}, {len(self.replicas)} replicas)'


class CopiedReplica:
    __slots__ = ('dataset_name', 'size', 'status')

    def __init__(self, dataset_name, size, status=HistoryRecord.ST_ENROUTE):
        self.dataset_name = dataset_name
        self.size = size
        self.status = status


class DeletedReplica:
    __slots__ = ('dataset_name', 'size')

    def __init__(self, dataset_name, size):
        self.dataset_name = dataset_name
        self.size = size
