"""Horizontal scaling, one module per job (docs/scaling.md, docs/architecture.md):

- join.py      a secondary's start: wait for the primary, load the image (local store, a copy of the
               primary's store made by storecopy.py, or the primary's store itself)
- follow.py    replay the primary's change sets in order, checking the chained digest
- lease.py     one writer at a time, cluster-wide
- forward.py   a secondary's writes sent to the primary
- failover.py  election, promotion and fencing when the primary's heartbeat stops

Servers talk only through MySQL tables. Nothing here is imported by the models or the records
services; the server loop and the write entry points call in.
"""
