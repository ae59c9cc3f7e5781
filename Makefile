# Developer shortcuts; the README's two commands do all set-up.
.PHONY: test demo chaos bench fuzz

test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh

# The long chaos run: hundreds of jobs, four labs, random SIGKILLs of broker, hub and nodes.
# Override: make chaos SEED=7 JOBS=500 NODES=5
SEED ?= 20261125
JOBS ?= 300
NODES ?= 4
chaos:
	COFAB_CHAOS_SEED=$(SEED) COFAB_CHAOS_JOBS=$(JOBS) COFAB_CHAOS_NODES=$(NODES) \
	  .venv/bin/pytest -m chaos -s -p no:cacheprovider tests/chaos

bench:
	for b in analysis upload search match dispatch grbl gcode_check; do .venv/bin/python -m bench.$$b --quick | tail -n 1; done

# The long Schemathesis run: every operation of the API, as every role, EXAMPLES inputs each
# (the test command runs 4). Override: make fuzz EXAMPLES=1000
EXAMPLES ?= 300
fuzz:
	COFAB_FUZZ_EXAMPLES=$(EXAMPLES) .venv/bin/pytest -m fuzz -p no:cacheprovider tests/hub/api/test_fuzz.py
