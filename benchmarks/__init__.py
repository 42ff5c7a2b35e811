"""Benchmarks of the sensor against its peers (`inv bench`)."""
