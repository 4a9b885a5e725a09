#!/usr/bin/env bash
# Checks the README's quick start as a new user on a fresh machine meets it:
# a fresh clone of the committed tree, an empty pip cache, an empty home (no
# data, no wheels, no models), then the README's two commands exactly as
# written, each timed. The first must end with an answer from the embedded model
# (llamacpp) and a Sources list; the second must pass.
#
# Usage: bash benchmarks/fresh_machine.sh [REPO]   (default: this checkout)
# Prints a Markdown summary for BENCHMARKS.md; exits non-zero if a check failed.
set -uo pipefail

repo=$(cd "${1:-$(dirname "$0")/..}" && pwd)
work=$(mktemp -d /tmp/fresh-machine.XXXXXX)
# pyenv's shims find their Python through PYENV_ROOT, which defaults to $HOME/.pyenv.
if command -v pyenv >/dev/null 2>&1; then
    export PYENV_ROOT="${PYENV_ROOT:-$(pyenv root)}"
fi
export HOME="$work/home" PIP_CACHE_DIR="$work/pip-cache"
mkdir -p "$HOME" "$PIP_CACHE_DIR"
unset ASSISTANT_HOME ASSISTANT_CONFIG XDG_DATA_HOME XDG_CACHE_HOME XDG_CONFIG_HOME VIRTUAL_ENV

git clone --quiet "$repo" "$work/clone"
# As in CI: the shared material (seeds, benchmarks, eval sets) beside the clone.
if [ -d "$repo/../shared" ]; then
    ln -s "$(cd "$repo/../shared" && pwd)" "$work/shared"
fi
cd "$work/clone" || exit 2
commit=$(git rev-parse --short HEAD)

# The quick start's fenced block: each line's command, without its comment.
mapfile -t commands < <(awk '
    /^## Quick start/ { section = 1; next }
    section && /^## / { exit }
    section && /^```/ { if (inside) exit; inside = 1; next }
    inside && NF { sub(/[ \t]+#.*/, ""); print }
' README.md)
if [ "${#commands[@]}" -ne 2 ]; then
    echo "expected two commands in the README's quick start, found ${#commands[@]}" >&2
    exit 2
fi

cache_before=$(find "$PIP_CACHE_DIR" -type f | wc -l)
failed=0
declare -a rows
for i in 0 1; do
    cmd=${commands[$i]}
    log="$work/command-$i.log"
    start=$SECONDS
    bash -c "$cmd" >"$log" 2>&1
    rc=$?
    wall=$((SECONDS - start))
    verdict="exit $rc"
    if [ "$rc" -ne 0 ]; then
        failed=1
        echo "--- '$cmd' failed (exit $rc); last lines:" >&2
        tail -20 "$log" >&2
    fi
    if [ "$i" -eq 0 ]; then
        if grep -q "^Backend: llamacpp" "$log" && grep -q "^Sources:" "$log"; then
            verdict="$verdict; answered by llamacpp with Sources"
        else
            verdict="$verdict; NO llamacpp answer with Sources"
            failed=1
        fi
    else
        verdict="$verdict; $(grep -E '^[0-9]+ passed' "$log" | tail -1)"
    fi
    rows+=("| \`$cmd\` | $wall s | $verdict |")
done

build=$(cat "$work"/clone/.wheels/*/build.json 2>/dev/null | tr -d '\n ' | head -c 400)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
isa=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx|avx2|fma|f16c|avx512f|avx512bw|avx512vl|avx512_vnni|avx512_bf16|avx512vbmi|avx_vnni|amx_tile|amx_int8|amx_bf16)$' | sort | tr '\n' ' ')
echo "Fresh machine check of commit $commit, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "CPU: $cpu, $(nproc) cores; instruction sets: $isa"
echo "pip cache files before the run: $cache_before (PIP_CACHE_DIR=$PIP_CACHE_DIR); HOME=$HOME"
echo
echo "| README command | wall | result |"
echo "|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "llama-cpp-python build record: $build"
echo "logs: $work/command-0.log, $work/command-1.log"
exit $failed
