PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,cuda,scipy,torch,jax,dask]'
	touch $(STAMP)

demo: install
	@for f in samples/*.txt; do echo "== chaincc check $$f"; $(BIN)/chaincc check $$f || exit 1; done
	@echo "== the seed example f(x, y) = (x² + xy)y³ at (1, 2)"
	$(BIN)/chaincc eval samples/seed.txt x=1 y=2
	@echo "== chaincc compile: every sample to standalone C in build/c"
	@for f in samples/*.txt; do $(BIN)/chaincc compile $$f -o build/c || exit 1; done
	@echo "== a C program calling the seed example's f_value_and_grad(1, 2, grad)"
	$(CC) -std=c99 -O2 -Wall -Wextra -Werror -pedantic -Ibuild/c -o build/seed_main \
		examples/seed_main.c build/c/seed.c -lm
	./build/seed_main

test: install
	$(BIN)/ruff check chaincc tests benchmarks
	$(BIN)/python -m pytest -q -n auto

lint: install
	$(BIN)/ruff check chaincc tests benchmarks

bench: install
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build .chaincc-cache
