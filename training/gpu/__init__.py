"""Training on a leased GPU machine (docs/long-runs.md, "Training on a GPU machine").

Here, before:  training.gpu.prepare builds .gpu/ (data, Keras wheels, the plan); training.gpu.slim
               takes the rest of the repository out of what a device call sends.
There:         training.gpu.device trains the plan's runs on Keras' JAX backend within a wall-clock
               budget and packs them into $OUT (training.gpu.pack).
Here, after:   training.gpu.unpack writes them into runs/, for training.export as usual.
"""
