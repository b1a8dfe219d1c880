# learnrec: `make demo` runs the main job end to end; `make test` builds and passes every test.
# Both install what is missing first (tools/install-deps.sh; needs root on a fresh machine).
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
DEPS       := tools/install-deps.sh
# SHARED=/path/to/shared: where the tests find the real datasets (default ../shared)
SHARED     ?=
SHARED_DEF := $(if $(SHARED),-DLR_SHARED_DIR="$(abspath $(SHARED))")

.PHONY: all deps build asan test demo fuzz install deb clean

all: build

# Prints the FAISS prefix into a file the configure steps read; quick once everything is there.
deps:
	@mkdir -p $(BUILD)
	@bash $(DEPS) --print-prefix > $(BUILD)/.faiss-prefix

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DLR_FAISS_PREFIX="$$(cat $(BUILD)/.faiss-prefix)" $(SHARED_DEF) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Asan -DLR_FAISS_PREFIX="$$(cat $(BUILD)/.faiss-prefix)" $(SHARED_DEF) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# Both builds' tests, then one closing line with the passed, failed and skipped counts (a test that
# needs ../shared and finds it missing is skipped, with the missing path printed).
test: build asan
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 bash tools/run-tests.sh -j $(JOBS) $(BUILD) $(ASAN_BUILD)

# libFuzzer over the file readers and the server (tests/fuzz): clang's, FUZZ_SECONDS per
# harness; figures in docs/reliability.md. Crashes go to build-fuzz/fuzz/crashes/.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
fuzz: deps
	@command -v clang >/dev/null || { echo "make fuzz needs Debian's clang: apt-get install clang"; exit 1; }
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Fuzz -DLR_FUZZ=ON -DCMAKE_C_COMPILER=clang \
	  -DCMAKE_CXX_COMPILER=clang++ -DLR_FAISS_PREFIX="$$(cat $(BUILD)/.faiss-prefix)" $(SHARED_DEF) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(addprefix fuzz_,npy safetensors tokenizer_json llm_config text_encoder rpc http manifest recbole amazon attrs)
	bash tools/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(if $(SHARED),$(abspath $(SHARED)),../shared)

demo: build
	@bash tools/demo.sh $(BUILD)/learnrec

# make install [PREFIX=/usr/local] [DESTDIR=/staging]: the binary, the client library with
# lr_rpc.h and learnrec-client.pc, the systemd units, the scripts and the docs (docs/operations.md)
PREFIX ?= /usr/local
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

# make deb: the same as a Debian package under /usr, in $(BUILD)/ (tools/make-deb.sh)
deb: build
	bash tools/make-deb.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
