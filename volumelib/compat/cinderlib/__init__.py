"""cinderlib 5.x public surface over volumelib (``import volumelib.compat.cinderlib as cinderlib``)."""
