"""Build: runs the dbt project (staging, intermediate, marts, publish)."""
