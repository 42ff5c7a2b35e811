"""`inv bench --discovery`: device identification scored against labeled devices."""
