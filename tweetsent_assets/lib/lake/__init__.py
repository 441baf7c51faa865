"""Spark sessions (in-process or Spark Connect), the Connect server, and Delta table operations."""
