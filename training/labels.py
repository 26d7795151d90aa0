"""FER-2013 label order and split names, shared by every stage."""

# Label ids 0..6 in the order of the original fer2013.csv.
LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
LABEL_TO_ID: dict[str, int] = {name: i for i, name in enumerate(LABELS)}

# Official splits: Training for fitting, PublicTest for validation and model selection,
# PrivateTest only for the final report.
SPLITS: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")
