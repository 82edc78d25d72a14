"""Benchmark harness: provena-widgets against its peers on a local rclone S3 server."""
