"""chainlake: the shared library and CLI.

The ground floor: it imports nothing from runner/, api/ or jobs/.
"""
