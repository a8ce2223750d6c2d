#!/usr/bin/env bash
# The campaign behind docs/results: runs each line of steps.txt (an experiment command, run from a
# pinned checkout) not yet in done.txt, in a folder outside the clone. Every sweep skips finished
# runs and resumes an interrupted one, so running this again resumes the campaign.
#
#   CAMPAIGN=/work/campaign bash tools/campaign/drive.sh setup   # a worktree of HEAD and a venv there
#   cd /work/campaign && nohup ./drive.sh > drive.log 2>&1 &     # run (or resume) in the background
#   bash tools/campaign/land.sh NAME [--remeasure]               # a finished sweep into docs/results/NAME
#
# steps.txt holds the steps not yet landed; done_at_stop.txt the ones whose results are in
# docs/results. A campaign folder on a new machine has none of their run folders: landing a sweep
# of which some runs were landed before replaces its tables with the new folder's, so rerun those
# runs there first (the same seed gives the same numbers) or land into a new name.
set -u
CAMPAIGN=${CAMPAIGN:-/work/campaign}
if [ "${1:-}" = setup ]; then
  here=$(cd "$(dirname "$0")/../.." && pwd)
  mkdir -p "$CAMPAIGN/results"
  [ -d "$CAMPAIGN/src" ] || git -C "$here" worktree add --detach "$CAMPAIGN/src" HEAD
  [ -d "$CAMPAIGN/venv" ] || { python3 -m venv "$CAMPAIGN/venv" && "$CAMPAIGN/venv/bin/pip" install -q -e "$CAMPAIGN/src"; }
  cp "$here/tools/campaign/steps.txt" "$here/tools/campaign/drive.sh" "$CAMPAIGN/"
  for song in sectoid_feelings_16k.flac wesnoth_128min_16k.opus; do   # the songs the steps name, if at hand
    [ -e "$CAMPAIGN/$song" ] || [ ! -e "$here/../shared/data/$song" ] || ln -s "$here/../shared/data/$song" "$CAMPAIGN/$song"
  done
  exit 0
fi
cd "$CAMPAIGN" || exit 2
. venv/bin/activate
touch done.txt
while true; do
  step=$(grep -vxF -f done.txt steps.txt | grep -v '^#' | grep . | head -1)
  [ -z "$step" ] && break
  echo "=== $(date -u +%FT%TZ) start: $step"
  ( cd src && eval "$step" ); rc=$?
  echo "=== $(date -u +%FT%TZ) end rc=$rc: $step"
  echo "$step" >> done.txt
done
echo "=== all steps done"
