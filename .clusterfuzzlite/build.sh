#!/bin/bash -eu
# Builds every cargo-fuzz target of acmespec (fuzz/targets.txt) with the engine's
# sanitizer flags and puts, next to each binary in $OUT, what the fuzzing service
# picks up by name: TARGET_seed_corpus.zip (the committed corpus and regression
# files) and TARGET.dict.
cd "$SRC/acmespec/fuzz"
cargo fuzz build -O
release=target/x86_64-unknown-linux-gnu/release
grep -v '^#' targets.txt | while read -r target dict; do
  [ -z "$target" ] && continue
  cp "$release/$target" "$OUT/"
  seeds=()
  for dir in ../fixtures/corpus/"$target" ../fixtures/regressions/"$target"; do
    [ -d "$dir" ] && seeds+=("$dir")
  done
  if [ ${#seeds[@]} -gt 0 ]; then
    zip -q -j -r "$OUT/${target}_seed_corpus.zip" "${seeds[@]}"
  fi
  if [ "$dict" != "-" ]; then
    cp "../fixtures/dict/$dict.dict" "$OUT/$target.dict"
  fi
done
