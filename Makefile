# elves: build, run, test.
#
#   make          build ./elves
#   make run      open the terminal application on the bundled stories260K
#   make test     unit, round-trip, command-line and terminal tests
#   make check    the same tests built with AddressSanitizer and UBSan
#   make bench    both benchmarks below, one after the other
#   make bench-real   every codec and policy against libzstd on real models
#                     (MODELS=folder adds models)
#   make bench-large  whole commands on a generated model of BENCH_SIZE bytes
#                     (default 4000000000) that copies the value distributions
#                     of the models under MODELS (default: the bundled samples)
#   make test-models MODELS=folder   round trips on every model in a folder
#   make fuzz     libFuzzer on the decoders and readers (FUZZ_SECONDS each)
#
# `run`, `test` and `check` first install missing Debian packages when run
# as root (scripts/setup.sh).

CC      ?= cc
CSTD    := -std=c11 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2
OPT     ?= -O2 -g
CFLAGS  += $(CSTD) $(WARN) $(OPT)
LDLIBS  := -lzstd -lcjson -lxxhash -lncursesw -lpthread -lm

BUILD   ?= build
CORE_SRC := $(wildcard codecs/*.c) $(wildcard core/*.c)
UI_SRC   := $(filter-out ui/main.c,$(wildcard ui/*.c))
TEST_SRC := $(wildcard tests/test_*.c)

CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
UI_OBJ   := $(UI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
ELVES    := $(BUILD)/elves
GEN      := $(BUILD)/gen_synth
SYNTH    := $(BUILD)/samples/synth-base.safetensors

.PHONY: all run test check bench bench-real bench-large setup clean unit shell-tests samples \
        test-models fuzz

all: ./elves

./elves: $(ELVES)
	cp $(ELVES) ./elves.tmp && mv -f ./elves.tmp ./elves

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The ELF transform's element loops are written without branches so that
# they vectorize; gcc does that at -O2 only with this flag (clang by default).
$(BUILD)/codecs/elf_words.o: CFLAGS += -ftree-vectorize

$(BUILD)/libelves.a: $(CORE_OBJ) $(UI_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(ELVES): $(BUILD)/ui/main.o $(BUILD)/libelves.a
	$(CC) $(CFLAGS) $^ $(LDFLAGS) $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/%.c tests/testutil.h tests/testdir.h tests/float_fill.h $(BUILD)/libelves.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-unused-parameter -DEL_BUILD_DIR='"$(BUILD)"' $< $(BUILD)/libelves.a \
	    $(LDFLAGS) $(LDLIBS) -lcmocka -o $@
# cmocka's test callbacks take a `void **state` that most tests ignore, so
# unused parameters are allowed in test files only. EL_BUILD_DIR tells the
# tests where this build generated its sample models.

$(BUILD)/tests/rss_of: tests/rss_of.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LDFLAGS) -o $@

$(BUILD)/tests/json_histograms: tests/json_histograms.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LDFLAGS) -lcjson -o $@

$(GEN): samples/gen_synth.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -lm -o $@

$(SYNTH): $(GEN)
	@mkdir -p $(dir $@)
	$(GEN) $(BUILD)/samples

samples: $(SYNTH)

setup:
	@scripts/setup.sh

run: setup ./elves
	./elves samples/stories260K.safetensors

unit: $(TEST_BIN) $(SYNTH)
	@set -e; for t in $(TEST_BIN); do echo "== $$t"; $$t; done

shell-tests: $(ELVES) $(SYNTH) $(BUILD)/tests/json_histograms $(BUILD)/tests/rss_of
	@set -e; for t in tests/*.sh; do echo "== $$t"; ELVES=$(abspath $(ELVES)) BUILD=$(abspath $(BUILD)) sh $$t; done
	ELVES=$(abspath $(ELVES)) BUILD=$(abspath $(BUILD)) scripts/check_models.sh samples

# Checks every .safetensors model under MODELS (see scripts/check_models.sh).
test-models: ./elves $(BUILD)/tests/json_histograms
	scripts/check_models.sh $(MODELS)

test: setup
	$(MAKE) ./elves
	$(MAKE) unit shell-tests

# The sanitizer build lives in its own folder so it never mixes objects with
# the normal one. Leak detection stays on.
check: setup
	$(MAKE) BUILD=build-san CC=clang OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	        LDFLAGS="-fsanitize=address,undefined" unit shell-tests

$(BUILD)/elves-bench: bench/elves_bench.c $(BUILD)/libelves.a
	$(CC) $(CFLAGS) $< $(BUILD)/libelves.a $(LDFLAGS) $(LDLIBS) -o $@

$(BUILD)/gen_large: bench/gen_large.c $(BUILD)/libelves.a
	$(CC) $(CFLAGS) $< $(BUILD)/libelves.a $(LDFLAGS) $(LDLIBS) -o $@

LARGE_BENCH_SRC := bench/large_bench.c bench/large_run.c bench/large_report.c
$(BUILD)/large_bench: $(LARGE_BENCH_SRC) bench/large_bench.h $(BUILD)/libelves.a
	$(CC) $(CFLAGS) $(LARGE_BENCH_SRC) $(BUILD)/libelves.a $(LDFLAGS) $(LDLIBS) -o $@

# Both benchmarks, one after the other so that neither slows the other.
bench:
	$(MAKE) bench-real
	$(MAKE) bench-large

# Every codec and policy on the bundled models and each .safetensors file
# under MODELS, in one process with libzstd -3 and -19 as the reference.
bench-real: $(BUILD)/elves-bench $(SYNTH)
	$(BUILD)/elves-bench samples/*.safetensors $(SYNTH) \
	    $(if $(MODELS),$(shell find $(MODELS) -name '*.safetensors' | sort))

# The large model. gen_large writes a model of BENCH_SIZE bytes into
# BENCH_DIR that copies the value distributions of the .safetensors models
# under MODELS (the bundled samples by default). large_bench then runs
# inspect, compress and restore on it, each as its own process, with libzstd
# as the reference, and writes its report to BENCH_DIR/large_bench.md. The
# model is deleted at the end. The run needs about three model sizes of free
# disk. BENCH_CONFIGS=key,... runs only those compress configurations.
BENCH_SIZE ?= 4000000000
BENCH_DIR ?= $(BUILD)/bench-large
BENCH_CONFIGS ?=
BENCH_SOURCES = $(if $(MODELS),$(shell find $(MODELS) -name '*.safetensors' | sort),samples/*.safetensors)
BENCH_MODEL = $(BENCH_DIR)/large-$(BENCH_SIZE).safetensors

bench-large: ./elves $(BUILD)/gen_large $(BUILD)/large_bench
	@mkdir -p $(BENCH_DIR)
	$(BUILD)/gen_large --size $(BENCH_SIZE) --out $(BENCH_MODEL) $(BENCH_SOURCES)
	$(BUILD)/large_bench --elves ./elves --work $(BENCH_DIR) --build $(BUILD) \
	    --tui tests/tui_first_screen.sh --report $(BENCH_DIR)/large_bench.md \
	    $(if $(BENCH_CONFIGS),--configs $(BENCH_CONFIGS)) $(BENCH_MODEL); \
	status=$$?; rm -f $(BENCH_MODEL); exit $$status

# libFuzzer harnesses for the decoders, the model readers and the container
# reader, each run FUZZ_SECONDS (default 60) with clang. FUZZ=name runs one.
FUZZ ?= decode model container
FUZZ_SECONDS ?= 60
FUZZ_SRC := $(CORE_SRC) $(filter-out ui/main.c,$(wildcard ui/*.c))

fuzz: setup
	@mkdir -p build-fuzz
	@set -e; for f in $(FUZZ); do \
	    clang $(CSTD) $(WARN) -g -O1 -fsanitize=fuzzer,address,undefined \
	        tests/fuzz/$$f.c $(FUZZ_SRC) $(LDLIBS) -o build-fuzz/$$f; \
	    mkdir -p build-fuzz/corpus-$$f; \
	    build-fuzz/$$f -max_total_time=$(FUZZ_SECONDS) build-fuzz/corpus-$$f; \
	done

clean:
	rm -rf build build-san build-fuzz elves

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
