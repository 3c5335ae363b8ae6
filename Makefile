# The two commands of the README:  `make demo` (the main job) and `make test` (the suite; what CI runs).
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FASHION_MNIST := /usr/share/datasets/fashion-mnist

.PHONY: install data demo test test-all bench bench-speed compare compare-pythae bench-selfvae

install:  ## Python packages (torch pinned to the local CPU wheel on these machines) and the package, editable
	$(PYTHON) -m pip install --quiet -c constraints/cpu.txt -e '.[test]'

data:  ## Fashion-MNIST from Debian's package (IDX files in $(FASHION_MNIST)) and graphviz (model graphs)
	@[ -f $(FASHION_MNIST)/train-images-idx3-ubyte.gz ] && command -v dot >/dev/null || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(SUDO) apt-get install -y -q dataset-fashion-mnist graphviz || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q dataset-fashion-mnist graphviz; }; }

demo: install data  ## train SimVAE (quick preset), evaluate it (NLL included), draw its figures and GMM samples: runs/demo
	$(PYTHON) experiments/fit.py --model simvae-quick --out runs/demo $(if $(wildcard runs/demo/checkpoint.pt),--resume,)
	$(PYTHON) experiments/sample.py runs/demo --sampler gmm --n 64

test: install data  ## the test suite without the slow tests (one short end-to-end fit, one torchrun run and one kill-and-resume still run)
	$(PYTHON) -m pytest -m "not slow" -q

test-all: install data  ## every test, the slow ones included, and the property tests with their longer search
	HYPOTHESIS_PROFILE=thorough $(PYTHON) -m pytest -q --hypothesis-show-statistics

bench: install data  ## the benchmarks of the README
	$(PYTHON) experiments/bench_svi_step.py
	$(PYTHON) experiments/bench_augment.py
	$(PYTHON) experiments/bench_epoch.py
	$(PYTHON) experiments/bench_likelihood.py --models vae iwae vae-iaf vamp simvae --epochs 5 --samples 1000
	$(PYTHON) experiments/bench_methods_step.py --steps 20

bench-speed: install data  ## precision (fp32/bf16/compiled, 3-seed quality check) and ppl-ssl vs Pythae (installs Pythae); about 2 h on 2 CPU cores
	$(PYTHON) -m pip install --quiet -c constraints/cpu.txt pythae==0.1.2
	$(PYTHON) experiments/bench_svi_step.py --steps 20
	$(PYTHON) experiments/bench_vs_pythae.py --rounds 5
	$(PYTHON) experiments/bench_precision.py --repeats 2 --compile --skip-quality --out runs/precision
	$(PYTHON) experiments/bench_precision.py --skip-speed --models vae --epochs 10 --seeds 3 --out runs/precision
	$(PYTHON) experiments/bench_precision.py --skip-speed --models simvae --quality-subset 20000 --epochs 10 --seeds 3 --out runs/precision
	$(PYTHON) experiments/bench_ddp.py --single-process

compare: install data  ## generative vs discriminative SSL, 3 seeds (the README's comparison; about an hour on 2 CPU cores)
	$(PYTHON) experiments/compare.py --models vae beta-vae simvae crvae-consistency simclr vicreg mocov2 --epochs 3 --seeds 3 \
	  --set eval.probe_epochs=30 --set eval.gmm_n_init=2 --set eval.tsne_points=0 --decode-epochs 15 --decode-lr 1e-3 --decode-patience 3 --out runs/compare

compare-pythae: install data  ## ppl-ssl against Pythae 0.1.2 on 18 shared models (MSSSIM-VAE at two β), 3 seeds, two processes (one per core), merged: runs/vs-pythae
	$(PYTHON) -m pip install --quiet -c constraints/cpu.txt --no-deps pythae==0.1.2
	OMP_NUM_THREADS=1 $(PYTHON) experiments/compare_pythae.py --models iwae,ciwae,vae,beta-vae,vamp,vaegan,msssim-vae,msssim-vae-beta-0.1 --out runs/vs-pythae-a & a=$$!; \
	OMP_NUM_THREADS=1 $(PYTHON) experiments/compare_pythae.py --models vae-iaf,beta-tc-vae,factor-vae,disentangled-beta-vae,infovae,wae,rae-l2,rae-gp,ae,aae,vq-vae --out runs/vs-pythae-b & b=$$!; \
	wait $$a && wait $$b
	$(PYTHON) experiments/compare_pythae.py --combine runs/vs-pythae-a runs/vs-pythae-b --out runs/vs-pythae

bench-selfvae: install data  ## selfVAE vs the VAE with the same nets and likelihood (the README's selfVAE table; about 1.5 h on 2 CPU cores)
	$(PYTHON) experiments/bench_selfvae.py --epochs 8 --nll-samples 512 --nll-images 1000 --quality-images 1000 --out runs/selfvae
