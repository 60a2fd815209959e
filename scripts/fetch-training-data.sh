#!/usr/bin/env bash
# Fetches the photographs `grl train` and `grl eval` use into data/ (git-ignored), from two
# packages reachable here: Debian's plasma-workspace-wallpapers (training and validation) and
# PyPI's scikit-image (its sample images: the held-out test set, never trained on).
# Sources and licences of every image: data/SOURCES.md. Idempotent: does nothing when done.
set -euo pipefail
source "$(dirname "$0")/env.sh"
DATA="$ROOT/data"
# The version of the set, in data/.complete: bumped whenever the lists change, so that existing
# checkouts fetch again. 2: the held-out set grows from 4 to 8 photos.
VERSION=2
[ "$(cat "$DATA/.complete" 2>/dev/null)" = "$VERSION" ] && { echo "training data already in $DATA"; exit 0; }

TRAIN=(Autumn BytheWater ColdRipple ColorfulCups DarkestHour EveningGlow FallenLeaf Kite OneStandsOut summer_1am)
VAL=(Path Grey)
# scikit-image's colour photographs (not its drawings, textures or greyscale images).
HELDOUT=(astronaut chelsea coffee hubble_deep_field ihc motorcycle_left retina rocket)

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
step "download plasma-workspace-wallpapers (Debian) and scikit-image (PyPI)"
(cd "$WORK" && apt-get download plasma-workspace-wallpapers >/dev/null)
dpkg-deb -x "$WORK"/plasma-workspace-wallpapers_*.deb "$WORK/deb"
python3 -m pip download --quiet --no-deps --only-binary=:all: "scikit-image==0.26.0" -d "$WORK/wheel"

rm -rf "$DATA/train" "$DATA/val" "$DATA/heldout"
mkdir -p "$DATA/train" "$DATA/val" "$DATA/heldout"
# Each photograph's full-HD JPEG, or its only (largest) one.
WALL="$WORK/deb/usr/share/wallpapers"
photo() {
  local dir="$WALL/$1/contents/images"
  if [ -f "$dir/1920x1080.jpg" ]; then echo "$dir/1920x1080.jpg"; else ls -S "$dir"/*.jpg | head -1; fi
}
for name in "${TRAIN[@]}"; do cp "$(photo "$name")" "$DATA/train/$name.jpg"; done
for name in "${VAL[@]}"; do cp "$(photo "$name")" "$DATA/val/$name.jpg"; done
for name in "${HELDOUT[@]}"; do
  unzip -q -j -o "$WORK"/wheel/scikit_image-*.whl "skimage/data/$name.*" -d "$DATA/heldout"
done
echo "$VERSION" > "$DATA/.complete"
echo "training data in $DATA: $(ls "$DATA/train" | wc -l) train, $(ls "$DATA/val" | wc -l) val, $(ls "$DATA/heldout" | wc -l) held-out"
