# d1-tools: the two commands a new user needs are `make demo` and `make test`.
CARGO ?= cargo
PREFIX ?= /usr/local
BINS := d1-export-start d1-export-wait d1-fetch d1-import d1-verify d1-upload d1-emulator

.PHONY: all build release test lint fmt demo bench fuzz man install clean

all: build

build:
	$(CARGO) build --workspace --bins

release:
	$(CARGO) build --workspace --bins --release

# Every test: unit tests, end-to-end tests against d1-emulator, the docs' examples. The
# end-to-end tests spawn the binaries, so they are built first.
test: build
	$(CARGO) test --workspace --no-fail-fast

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

# The whole pipeline against the emulator's sample database, ending with d1-verify's report.
demo: build
	./scripts/demo.sh target/debug

bench:
	./scripts/bench.sh

fuzz:
	./scripts/fuzz.sh

# Man pages are generated from the docs pages (one source, see scripts/mkman.py).
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
man:
	mkdir -p target/man/man1
	for b in $(BINS); do python3 scripts/mkman.py docs/$$b.md $(VERSION) > target/man/man1/$$b.1; done

install: release man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/doc/d1-tools/docs $(DESTDIR)$(PREFIX)/share/man/man1
	for b in $(BINS); do install -m 0755 target/release/$$b $(DESTDIR)$(PREFIX)/bin/$$b; done
	for b in $(BINS); do install -m 0644 target/man/man1/$$b.1 $(DESTDIR)$(PREFIX)/share/man/man1/$$b.1; done
	# The README links to docs/…, so the docs keep that layout.
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/d1-tools/
	install -m 0644 docs/*.md $(DESTDIR)$(PREFIX)/share/doc/d1-tools/docs/

clean:
	$(CARGO) clean
	rm -rf demo-out
