"""Vendor adapters: each turns one vendor's API into normalized Readings (see base.py)."""
