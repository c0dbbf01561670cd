"""Run directories (self-describing, no pickle), loading, and evaluation metrics."""
