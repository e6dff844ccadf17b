#!/usr/bin/env bash
# Train (or resume) the bundled zoo's source GANs. Each run checkpoints every 500 steps into $RUNS/NAME/training
# and writes $RUNS/NAME/pipeline (with its model card and held-out FD/KID) when it reaches its step count.
# Usage: scripts/train_zoo.sh NAME [NAME ...]   (names below; add --resume to continue: RESUME=1 scripts/train_zoo.sh …)
# After a run finishes and its grids look right: python scripts/export_zoo.py RUN/pipeline NAME
set -euo pipefail
RUNS=${RUNS:-/work/zoo-runs}
COMMON=(--set checkpoint_every=500 --set sample_every=1000 --quiet)
[ "${RESUME:-0}" = 1 ] && COMMON+=(--resume)
run() { local name=$1; shift; mkdir -p "$RUNS"; OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} \
  gan-transfer train-source "$@" --output "$RUNS/$name" "${COMMON[@]}" > "$RUNS/$name.log" 2>&1; }
for name in "$@"; do
  case "$name" in
    # Step counts fit the 2-CPU-core budget we trained on (0.47 s/step at 28 px, 0.75 s/step at 32 px, two runs at once).
    # Conditional models use a 16-d class embedding: with BigGAN's 128 the class swamped z (per-class mode collapse).
    fashion-mnist-cond) run "$name" --data fashion-mnist --classes 0 1 2 3 4 5 6 7 --conditional --resolution 28 --width 32 --steps 4000 --set 'generator_options={"shared_dim": 16}' ;;
    fashion-mnist) run "$name" --data fashion-mnist --resolution 28 --width 32 --steps 4000 ;;
    # cGANTransfer's own kind of source (issue 17): a ResNet whose classes live in per-layer class-conditional BN tables.
    # 2500 steps: the ResNet takes 1.6 s/step on one shared core (3.4x the DCGAN), so 4000 would not fit a session.
    fashion-mnist-cond-resnet) run "$name" --data fashion-mnist --classes 0 1 2 3 4 5 6 7 --conditional --family resnet --resolution 28 --width 32 --steps 2500 ;;
    fashion-tops) run "$name" --data fashion-mnist --classes 0 2 4 6 --resolution 28 --width 32 --steps 3000 ;;
    fashion-footwear) run "$name" --data fashion-mnist --classes 5 7 9 --resolution 28 --width 32 --steps 3000 ;;
    emoji-google) run "$name" --data emoji-google --resolution 32 --width 32 --steps 10000 ;;
    emoji-google-cond) run "$name" --data emoji-google --conditional --resolution 32 --width 32 --steps 4000 --set 'generator_options={"shared_dim": 16}' ;;
    *) echo "unknown zoo model: $name" >&2; exit 2 ;;
  esac
done
