"""scikit-learn estimators over vaekit runs (issue 11): :class:`VAEOutlierDetector`.

Import the classes from here; scikit-learn is imported with them (not by ``import vaekit``)."""

from vaekit.sklearn.outlier import VAEOutlierDetector

__all__ = ["VAEOutlierDetector"]
