"""Faces in scenes: planted FER-2013 faces for the detector pipeline evaluation (``make eval-pipeline``)."""
