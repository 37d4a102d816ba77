#!/usr/bin/env python3
"""Shell completions for the d1-tools, generated from each tool's own --help.

The help text is the one table of options (written beside each tool's parser): this reads it
from the built binary, so a completion can never offer an option the tool does not take.
Usage: completions.py BINDIR OUTDIR TOOL...
Writes OUTDIR/bash/TOOL, OUTDIR/zsh/_TOOL and OUTDIR/fish/TOOL.fish.
"""
import os
import re
import subprocess
import sys

# `  -o, --output PATH      text`, `      --zstd[=LEVEL]  text`, `    --port N   text`,
# `      --shard I/N        text`
OPTION = re.compile(
    r"^ {1,8}(?:-(?P<short>\w), )?--(?P<long>[a-z][a-z0-9-]*)"
    r"(?P<arg>\[=[A-Z]+\]|[ =][A-Z][A-Z_=./\[\]]*)?(?:\s{2,}(?P<text>.*))?$"
)


def options(binary):
    """(short, long, takes_value, optional_value, description) for each option in --help."""
    text = subprocess.run(
        [binary, "--help"], capture_output=True, text=True, check=True
    ).stdout
    found = []
    seen = set()
    for line in text.splitlines():
        m = OPTION.match(line)
        if not m or m.group("long") in seen:
            continue
        seen.add(m.group("long"))
        arg = m.group("arg") or ""
        found.append(
            (
                m.group("short"),
                m.group("long"),
                bool(arg) and not arg.startswith("["),
                arg.startswith("["),
                (m.group("text") or "").strip(),
            )
        )
    return found


def file_arg(long):
    """Options whose value is a path: complete file names there."""
    return long in {
        "output", "token-file", "metrics-file", "schema", "db", "data-dir",
        "identity", "recipients-file",
    }


def bash(tool, opts):
    flat = []
    for s, l, *_ in opts:
        if s:
            flat.append(f"-{s}")
        flat.append(f"--{l}")
    with_value = [f"--{l}" for s, l, v, *_ in opts if v] + [
        f"-{s}" for s, l, v, *_ in opts if v and s
    ]
    files = [f"--{l}" for s, l, v, *_ in opts if v and file_arg(l)] + [
        f"-{s}" for s, l, v, *_ in opts if v and s and file_arg(l)
    ]
    fn = "_" + tool.replace("-", "_")
    return f"""# bash completion for {tool} (generated from `{tool} --help` by scripts/completions.py)
{fn}() {{
    local cur prev
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    case "$prev" in
        {'|'.join(files) or '--no-such-option'})
            COMPREPLY=($(compgen -f -- "$cur")); return ;;
        {'|'.join(with_value) or '--no-such-option'})
            COMPREPLY=(); return ;;
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "{' '.join(flat)}" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}}
complete -F {fn} {tool}
"""


def zsh_escape(text):
    return text.replace("\\", "\\\\").replace("'", "'\\''").replace("[", "\\[").replace(
        "]", "\\]"
    ).replace(":", "\\:")


def zsh(tool, opts):
    specs = []
    for s, l, v, opt, text in opts:
        desc = zsh_escape(text)
        value = ""
        if v:
            value = ":value:_files" if file_arg(l) else ":value: "
        if opt:
            spec_long = f"'--{l}=-[{desc}]::value: '"
        else:
            spec_long = f"'--{l}[{desc}]{value}'"
        if s:
            specs.append(f"'-{s}[{desc}]{value}'")
        specs.append(spec_long)
    body = " \\\n    ".join(specs + ["'*:file:_files'"])
    return f"""#compdef {tool}
# zsh completion for {tool} (generated from `{tool} --help` by scripts/completions.py)
_arguments -s \\
    {body}
"""


def fish(tool, opts):
    lines = [f"# fish completion for {tool} (generated from `{tool} --help` by scripts/completions.py)"]
    for s, l, v, opt, text in opts:
        parts = [f"complete -c {tool}"]
        if s:
            parts.append(f"-s {s}")
        parts.append(f"-l {l}")
        if v:
            parts.append("-r" if not file_arg(l) else "-r -F")
        desc = text.replace("'", "\\'")
        parts.append(f"-d '{desc}'")
        lines.append(" ".join(parts))
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: completions.py BINDIR OUTDIR TOOL...")
    bindir, outdir, tools = sys.argv[1], sys.argv[2], sys.argv[3:]
    for sub in ("bash", "zsh", "fish"):
        os.makedirs(os.path.join(outdir, sub), exist_ok=True)
    for tool in tools:
        opts = options(os.path.join(bindir, tool))
        if not opts:
            sys.exit(f"completions.py: no options found in {tool} --help")
        for sub, name, make in (
            ("bash", tool, bash),
            ("zsh", "_" + tool, zsh),
            ("fish", tool + ".fish", fish),
        ):
            with open(os.path.join(outdir, sub, name), "w") as f:
                f.write(make(tool, opts))


if __name__ == "__main__":
    main()
