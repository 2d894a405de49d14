"""Pipelines: the routes of motion4d as objects with one ``__call__``, each writing one run folder."""
