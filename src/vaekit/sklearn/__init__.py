"""scikit-learn estimators over vaekit runs (issue 11): :class:`VAEOutlierDetector`, :class:`VAETransformer`.

Import the classes from here; scikit-learn is imported with them (not by ``import vaekit``)."""

from vaekit.sklearn.outlier import VAEOutlierDetector
from vaekit.sklearn.transformer import VAETransformer

__all__ = ["VAEOutlierDetector", "VAETransformer"]
