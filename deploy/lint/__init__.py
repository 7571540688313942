"""The checks of deploy/check.py, one module per part of the deploy kit."""
