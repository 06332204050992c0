"""Chapter 4: prediction logs, the ETL to parquet, queries, drift, the dashboard, alerts."""
