"""The ``volumelib`` command line."""
