"""Grenswacht: the FastAGI service, AMI client, protocol engine and CLI."""

__version__ = "0.1.0"
