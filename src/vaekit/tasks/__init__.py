"""Inference-time jobs on a trained model, one file each. They return tensors / dicts; the
API and CLI layers decide where results are written."""
