"""Lakeside: an open, self-hosted ML platform on Delta tables, Spark, Airflow, MLflow and BentoML."""

__version__ = "0.1.0"
