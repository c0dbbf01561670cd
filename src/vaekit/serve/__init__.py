"""The web explorer behind `vaekit serve`: a FastAPI app over one or more run directories (issue 13)."""
