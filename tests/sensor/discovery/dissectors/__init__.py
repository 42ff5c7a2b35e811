"""The discovery dissectors, one test module per protocol (`frames` holds what they share)."""
