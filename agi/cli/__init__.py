"""The ``grenswacht`` command line: the service and the supervisor/administrator tools."""
