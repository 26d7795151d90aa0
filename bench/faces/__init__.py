"""Detection and crop scoring on planted FER-2013 faces (``training.planting``) for the pipeline evaluation."""
