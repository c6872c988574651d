"""Change tracking for one change set: what to undo if it fails, and what to write to the store.

Every mutation of the graph made while a journal is active is recorded here by the inventory, so
that a change set rejected by the database can be rolled back in RAM exactly.
"""

SET_ATTR, LIST_APPEND, LIST_REMOVE, DICT_SET, DICT_POP, SET_ADD, SET_DISCARD, RESTORE = range(8)
_MISSING = object()


class Journal:
    def __init__(self, *, keep_ids=False, undo_limit=5_000_000, sink=None):
        self.keep_ids = keep_ids          # replaying a logged change set: ids come with the objects
        self.undo_limit = undo_limit
        self.undo = []
        self.undo_overflow = False        # too big to undo: on failure the image must be reloaded
        self.created = {}                 # id(obj) -> obj, in creation order
        self.modified = {}
        self.removed = {}
        self.file_upserts = {}            # lfn -> File linked to its block
        self.file_deletes = {}            # lfn -> File
        self.file_lookup = {}             # lfn -> File or None, prefetched from the catalog
        self.file_lists = {}              # id(br) -> block replica whose file list changed
        self.ops = []                     # resolved ('u'|'d', object dict) in call order
        self.sink = sink                  # if set, receives the ops instead of self.ops (streaming)
        self.num_ops = 0
        self.portable_files = False       # emit LFNs, not ids, for files created in this journal
        self.new_files = {}               # file id -> lfn of files created in this journal
        self.saved_ids = None

    def record(self, entry):
        if self.undo_overflow:
            return
        if len(self.undo) >= self.undo_limit:
            self.undo_overflow = True
            self.undo = []
            return
        self.undo.append(entry)

    def rollback(self):
        """Undo every recorded mutation, newest first. Returns False when that is impossible."""
        if self.undo_overflow:
            return False
        for entry in reversed(self.undo):
            kind = entry[0]
            if kind == SET_ATTR:
                setattr(entry[1], entry[2], entry[3])
            elif kind == LIST_APPEND:
                entry[1].pop()
            elif kind == LIST_REMOVE:
                entry[1].insert(entry[2], entry[3])
            elif kind == DICT_SET:
                if entry[3] is _MISSING:
                    del entry[1][entry[2]]
                else:
                    entry[1][entry[2]] = entry[3]
            elif kind == DICT_POP:
                entry[1][entry[2]] = entry[3]
            elif kind == SET_ADD:
                entry[1].discard(entry[2])
            elif kind == SET_DISCARD:
                entry[1].add(entry[2])
            elif kind == RESTORE:
                obj = entry[1]
                for name, value in zip(entry[2], entry[3]):
                    setattr(obj, name, value)
        self.undo = []
        return True

    # what the store must write ------------------------------------------------------------------
    def mark_created(self, obj):
        self.created[id(obj)] = obj

    def mark_modified(self, obj):
        if id(obj) not in self.created:
            self.modified[id(obj)] = obj

    def mark_removed(self, obj):
        key = id(obj)
        if self.created.pop(key, None) is not None:
            return  # never reached the store
        self.modified.pop(key, None)
        self.removed[key] = obj

    def emit(self, op, data):
        self.num_ops += 1
        if self.sink is None:
            self.ops.append((op, data))
        else:
            self.sink(op, data)
