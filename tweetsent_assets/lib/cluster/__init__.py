"""The scale-out topology's processes: PostgreSQL, a Spark standalone cluster, and how they are started."""
