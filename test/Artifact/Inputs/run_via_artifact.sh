#!/bin/sh
# onebit-run through an artifact, for harnesses that take an onebit-run:
#   run_via_artifact.sh MODEL [onebit-run arguments]
# compiles MODEL with $ONEBIT_COMPILE into MODEL.onebit (once per harness
# run: again only when the model or onebit-compile is newer than the
# artifact, so an artifact left by an earlier build is never reused) and
# runs the artifact with $ONEBIT_RUN.
model="$1"
shift
if [ ! -f "$model.onebit" ] || [ "$model" -nt "$model.onebit" ] ||
   [ "$ONEBIT_COMPILE" -nt "$model.onebit" ]; then
  "$ONEBIT_COMPILE" "$model" -o "$model.onebit" 2>/dev/null || exit 1
fi
exec "$ONEBIT_RUN" "$model.onebit" "$@"
