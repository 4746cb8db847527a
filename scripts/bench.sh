#!/bin/sh
# Compression ratio and speed of every codec on real and synthetic models,
# with zstd (through libzstd, the `zstd` codec) at levels 3 and 19 as the
# reference in the same run.
#
# Usage: scripts/bench.sh [FOLDER...]
# Benchmarks the bundled samples, the generated synthetic model, and every
# .safetensors file under each FOLDER. Prints Markdown tables on stdout.
# Speeds are whole-command wall-clock MB/s of `elves compress` and
# `elves restore` (original bytes per second, file reading and verification
# included); peak memory is the maximum resident set size from /usr/bin/time.
set -eu

elves=${ELVES:-./elves}
timer=/usr/bin/time
[ -x "$timer" ] || { echo "bench: $timer not found; install the Debian package 'time'" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

models="samples/stories260K.safetensors samples/stories260K.bf16.safetensors build/samples/synth-base.safetensors"
for folder in "$@"; do
    models="$models $(find "$folder" -name '*.safetensors' | sort)"
done

# Each configuration: label, codec, bound, zstd level. ELF runs under a bound
# of 2^-8, which every float dtype's exact ELF error (2^-24 for F32, 2^-11 for
# F16, 2^-8 for BF16) meets; tensors it cannot take (integers) use auto.
configs="zstd-3:zstd:lossless:3
zstd-19:zstd:lossless:19
bytegroup:bytegroup:lossless:3
auto-lossless:auto:lossless:3
elf:elf:abs:0.00390625:3
elf-m-1e-4:elf-m:abs:1e-4:3
auto-1e-3:auto:abs:1e-3:3
auto-1e-4:auto:abs:1e-4:3
auto-1e-5:auto:abs:1e-5:3"

# run LABEL MODEL CODEC BOUND LEVEL: prints "size compress_s restore_s peak_kb"
run() {
    out="$tmp/out.elves"
    "$timer" -f "%e %M" -o "$tmp/ctime" "$elves" compress "$2" -o "$out" --codec "$3" \
        --bound "$4" --level "$5" >/dev/null 2>"$tmp/err" \
        || { echo "bench: $1 on $2 failed: $(cat "$tmp/err")" >&2; exit 1; }
    "$timer" -f "%e %M" -o "$tmp/rtime" "$elves" restore "$out" -o "$tmp/restored" >/dev/null
    echo "$(wc -c <"$out") $(cat "$tmp/ctime") $(cat "$tmp/rtime")"
}

printf '| model | MB |'
echo "$configs" | while IFS=: read -r label rest; do printf ' %s |' "$label"; done
printf '\n|---|---:|'
echo "$configs" | while IFS=: read -r label rest; do printf -- '---:|'; done
printf '\n'

: >"$tmp/speed"
for model in $models; do
    bytes=$(wc -c <"$model")
    printf '| %s | %.2f |' "$(basename "$model" .safetensors)" "$(echo "$bytes / 1000000" | bc -l)"
    echo "$configs" | while IFS=: read -r label codec b1 b2 b3; do
        if [ "$b1" = lossless ]; then bound=lossless level=$b2; else bound="$b1:$b2" level=$b3; fi
        set -- $(run "$label" "$model" "$codec" "$bound" "$level")
        printf ' %.3f |' "$(echo "$bytes / $1" | bc -l)"
        echo "$(basename "$model" .safetensors) $label $bytes $2 $3 $4 $5" >>"$tmp/speed"
    done
    printf '\n'
done

printf '\n| model | config | compress MB/s | restore MB/s | peak RSS compress / restore (MB) |\n'
printf '|---|---|---:|---:|---:|\n'
while read -r name label bytes cs cm rs rm; do
    printf '| %s | %s | %.1f | %.1f | %.1f / %.1f |\n' "$name" "$label" \
        "$(echo "$bytes / 1000000 / ($cs + 0.005)" | bc -l)" \
        "$(echo "$bytes / 1000000 / ($rs + 0.005)" | bc -l)" \
        "$(echo "$cm / 1000" | bc -l)" "$(echo "$rm / 1000" | bc -l)"
done <"$tmp/speed"
