"""Command-line tools of the cinderlib compatibility layer."""
