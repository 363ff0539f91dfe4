"""The runtime every service runs on: our Stage runner over FastStream's poller, HTTP, Redis, metrics."""
