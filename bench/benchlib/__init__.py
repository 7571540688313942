"""The parts of bench/run.py: servers, measurements, the report."""
