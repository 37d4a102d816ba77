#!/usr/bin/env python3
"""Turns a tool's docs page (docs/TOOL.md) into its man page (roff, section 1).

The docs page is the one source: the man page is generated from it, never written by hand.
Handles the Markdown the pages use: headings, paragraphs, bullet and numbered lists, tables
(rendered as tagged paragraphs), fenced code blocks, `code`, **bold**, *italic* and links.
Usage: mkman.py docs/d1-fetch.md [VERSION] > d1-fetch.1
"""
import re
import sys


def esc(text):
    """Escapes roff's special characters in running text."""
    text = text.replace("\\", "\\e")
    return text.replace("-", "\\-")


def inline(text):
    """Markdown inline markup to roff font changes."""
    out = []
    # Split on code spans first: their content is literal.
    for i, part in enumerate(re.split(r"`([^`]*)`", text)):
        if i % 2 == 1:
            out.append("\\fB" + esc(part) + "\\fR")
            continue
        part = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", part)
        part = esc(part)
        part = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", part)
        part = re.sub(r"(?<![\w*])\*([^*]+)\*(?![\w*])", r"\\fI\1\\fR", part)
        out.append(part)
    return "".join(out)


def line(text):
    """A roff text line must not start with a control character."""
    text = inline(text)
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


def convert(md, version):
    lines = md.splitlines()
    name = lines[0].lstrip("# ").strip()
    # The NAME line: the tool and the first sentence of the first paragraph.
    first = []
    i = 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    while i < len(lines) and lines[i].strip() and not lines[i].startswith("#"):
        first.append(lines[i].strip())
        i += 1
    summary = " ".join(first)
    summary = re.split(r"(?<=\.)\s", summary)[0].rstrip(".")
    out = [
        '.TH "%s" "1" "" "d1-tools %s" "d1-tools manual"' % (name.upper(), version),
        # Ragged right, no hyphenation: option names and paths must not be split.
        ".ad l",
        ".nh",
        ".SH NAME",
        "%s \\- %s" % (esc(name), inline(summary[0].lower() + summary[1:] if summary else "")),
    ]
    in_code = False
    table_header_seen = False
    for raw in lines[1:]:
        s = raw.rstrip()
        if s.strip().startswith("```"):
            if not in_code:
                out += [".PP", ".RS 4", ".nf"]
            else:
                out += [".fi", ".RE"]
            in_code = not in_code
            continue
        if in_code:
            out.append(("\\&" if s.startswith((".", "'")) else "") + s.replace("\\", "\\e"))
            continue
        if s.startswith("## "):
            out.append('.SH "%s"' % inline(s[3:].strip()).upper())
            continue
        if s.startswith("### "):
            out.append('.SS "%s"' % inline(s[4:].strip()))
            continue
        if s.startswith("|"):
            cells = [c.strip() for c in s.strip("|").split("|")]
            if all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                table_header_seen = True
                continue
            if not table_header_seen:
                continue  # the header row: the section heading already says it
            out += [".TP", line(cells[0])]
            rest = " \\(em ".join(inline(c) for c in cells[1:] if c)
            out.append(rest if rest else "\\&")
            continue
        table_header_seen = False
        if not s.strip():
            out.append(".PP")
            continue
        m = re.match(r"^(\s*)(?:[-*]|\d+\.)\s+(.*)$", s)
        if m:
            out += [".IP \\(bu 2" if m.group(1) == "" else ".IP \\(bu 4", line(m.group(2))]
            continue
        out.append(line(s.strip()))
    # Collapse runs of paragraph breaks.
    text = "\n".join(out) + "\n"
    text = re.sub(r"(\.PP\n)+", ".PP\n", text)
    text = re.sub(r"\.PP\n(\.(SH|SS|TP|IP))", r"\1", text)
    return text


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: mkman.py docs/TOOL.md [VERSION]")
    with open(sys.argv[1], encoding="utf-8") as f:
        md = f.read()
    sys.stdout.write(convert(md, sys.argv[2] if len(sys.argv) > 2 else ""))


if __name__ == "__main__":
    main()
