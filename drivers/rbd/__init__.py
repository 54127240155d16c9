"""Ceph RBD driver (librados/librbd bindings)."""
