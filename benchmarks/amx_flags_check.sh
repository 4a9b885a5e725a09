#!/usr/bin/env bash
# Shows, on any x86-64 machine, that the installer's compiler flags keep
# llama.cpp's AMX kernels out of a build for a CPU with AMX: compiles ggml's CPU
# library from the llama-cpp-python source that assistant/llama_build.py pins,
# once as -march=native gives it on a Sapphire Rapids CPU, once with the
# installer's flags added, and counts AMX instructions in each.
#
# Usage: bash benchmarks/amx_flags_check.sh   (about a minute on 2 cores)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
version=$("$py" -c "import sys; sys.path.insert(0, '$root/assistant'); import llama_build; print(llama_build.VERSION)")
flags=$("$py" -c "import sys; sys.path.insert(0, '$root/assistant'); import llama_build; print(' '.join(llama_build.COMPILER_FLAGS))")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$py" -m pip download --quiet --no-deps --no-binary :all: -d "$work" "llama-cpp-python==$version"
tar xzf "$work"/llama_cpp_python-*.tar.gz -C "$work"
src=$(echo "$work"/llama_cpp_python-*/vendor/llama.cpp)
for variant in "without the flags" "with the flags"; do
    cflags="-march=sapphirerapids"
    [ "$variant" = "with the flags" ] && cflags="$cflags $flags"
    build="$work/build-${variant// /-}"
    CFLAGS="$cflags" CXXFLAGS="$cflags" cmake -S "$src" -B "$build" -DGGML_NATIVE=OFF \
        -DBUILD_SHARED_LIBS=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF \
        -DCMAKE_BUILD_TYPE=Release >"$build.log" 2>&1
    cmake --build "$build" --target ggml-cpu -j "$(nproc)" >>"$build.log" 2>&1
    so=$(find "$build" -name 'libggml-cpu.so' | head -1)
    count=$(objdump -d "$so" | grep -cE '\s(tileloadd|tileloaddt1|tdpbssd|tdpbusd|tdpbf16ps|ldtilecfg|tilestored)\s' || true)
    echo "-march=sapphirerapids $variant ($cflags): $count AMX instructions in libggml-cpu.so"
done
