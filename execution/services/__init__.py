"""The execution package's writes of its records: servers, queued writes, applications.

They work on models only (no cluster logic), so that the cluster package, the scheduler, the
socket server and the web modules can all call them (docs/architecture.md)."""
