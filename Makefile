# d1-tools: the two commands a new user needs are `make demo` and `make test`.
CARGO ?= cargo
PREFIX ?= /usr/local
BINS := d1-export-start d1-export-wait d1-fetch d1-import d1-verify d1-upload d1-prune d1-ls d1-emulator

.PHONY: all build release test lint fmt demo bench fuzz scale man completions install clean

all: build

build:
	$(CARGO) build --workspace --bins

release:
	$(CARGO) build --workspace --bins --release

# Every test: unit tests, end-to-end tests against d1-emulator, the docs' examples. The
# end-to-end tests spawn the binaries, so they are built first.
test: build
	$(CARGO) test --workspace --no-fail-fast

# The last line checks the emulator alone, as it ships: d1-core without its `client` feature,
# which a workspace build always turns on (features are unified across the crates built together).
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p d1-emulator --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

# The whole pipeline against the emulator's sample database, ending with d1-verify's report.
demo: build
	./scripts/demo.sh target/debug

bench:
	./scripts/bench.sh

fuzz:
	./scripts/fuzz.sh

# The 1,000-database night of issue 35 (one process, then 8 shards at once) against the emulator
# with D1's rate limit: about half an hour, set by the account's limit. A measurement, not a test
# (`make test` runs the same properties scaled down, tests/tests/shards.rs).
scale: build
	./scripts/scale.sh all

# Man pages are generated from the docs pages (one source, see scripts/mkman.py).
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
MAN_DIR ?= target/man
man:
	mkdir -p $(MAN_DIR)/man1
	for b in $(BINS); do python3 scripts/mkman.py docs/$$b.md $(VERSION) > $(MAN_DIR)/man1/$$b.1; done

# The scripts the docs tell users to run (each is a docs block the docs test checks against this
# file: `file=NAME same-as=PATH`), installed beside the tools.
USER_SCRIPTS := scripts/d1-backup.sh scripts/manifests-to-csv.sh
# Where cargo put the release binaries: `cargo metadata` knows (CARGO_TARGET_DIR, a
# .cargo/config.toml build.target-dir). D1_BIN_DIR=DIR installs binaries already built in DIR
# instead, without building (the tests install their debug build this way).
TARGET_DIR = $(shell $(CARGO) metadata --no-deps --format-version 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
MANDIR = $(PREFIX)/share/man

BIN_DIR = $(or $(D1_BIN_DIR),$(TARGET_DIR)/release)
COMP_DIR ?= target/completions

# Shell completions, generated from each tool's own --help (scripts/completions.py).
completions: $(if $(D1_BIN_DIR),,release)
	python3 scripts/completions.py "$(BIN_DIR)" $(COMP_DIR) $(BINS)

install: $(if $(D1_BIN_DIR),,release) man completions
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/doc/d1-tools/docs $(DESTDIR)$(MANDIR)/man1
	for b in $(BINS); do install -m 0755 "$(BIN_DIR)/$$b" $(DESTDIR)$(PREFIX)/bin/$$b || exit 1; done
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	for b in $(BINS); do install -m 0644 $(COMP_DIR)/bash/$$b $(DESTDIR)$(PREFIX)/share/bash-completion/completions/$$b || exit 1; done
	for b in $(BINS); do install -m 0644 $(COMP_DIR)/zsh/_$$b $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_$$b || exit 1; done
	for b in $(BINS); do install -m 0644 $(COMP_DIR)/fish/$$b.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/$$b.fish || exit 1; done
	for s in $(USER_SCRIPTS); do install -m 0755 $$s $(DESTDIR)$(PREFIX)/bin/ || exit 1; done
	for b in $(BINS); do install -m 0644 $(MAN_DIR)/man1/$$b.1 $(DESTDIR)$(MANDIR)/man1/$$b.1 || exit 1; done
	# The README links to docs/…, so the docs keep that layout.
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/d1-tools/
	install -m 0644 docs/*.md $(DESTDIR)$(PREFIX)/share/doc/d1-tools/docs/
	@echo "installed $(BINS) $(notdir $(USER_SCRIPTS)) in $(DESTDIR)$(PREFIX)/bin"
	@echo "man pages in $(DESTDIR)$(MANDIR)/man1; read one with:"
	@if manpath 2>/dev/null | tr : '\n' | grep -qx '$(MANDIR)'; then \
	  echo "  man d1-fetch"; \
	else \
	  echo '  MANPATH="$(MANDIR):$$MANPATH" man d1-fetch'; \
	  echo "or add $(MANDIR) to MANPATH in your shell's profile, or: man -l $(MANDIR)/man1/d1-fetch.1"; \
	fi

clean:
	$(CARGO) clean
	rm -rf demo-out
