"""Compatibility package: the import paths of the original Dynamo (`dynamo.core.executable`,
`dynamo.dataformat`, `dynamo.web.modules._base`) over this project's own modules."""
