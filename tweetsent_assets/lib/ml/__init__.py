"""Models and their lifecycle: training, evaluation, promotion, the registry, scoring in Spark, the prediction cache."""
