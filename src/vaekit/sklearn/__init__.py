"""scikit-learn-style estimators over vaekit runs (e.g. the outlier detector of issue 11)."""
