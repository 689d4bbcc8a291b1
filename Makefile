# Convenience wrappers around tasks.py (which needs only Python >= 3.11).
.PHONY: setup test run lab model bench clean
setup: ; python3 tasks.py setup
test: ; python3 tasks.py test
run: ; python3 tasks.py run
lab: ; python3 tasks.py lab
model: setup ; .venv/bin/python -m m3lrn_lib.morphable build --update-shipped
bench: setup ; for b in benchmarks/bench_*.py; do .venv/bin/python $$b || exit 1; done
clean: ; rm -rf build .pytest_cache
