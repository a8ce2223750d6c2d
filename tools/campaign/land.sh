#!/usr/bin/env bash
# land.sh NAME [--remeasure]: rebuild the campaign's results/NAME tables (measuring its clips again
# with the campaign's code if asked) and copy its record into this clone's docs/results/NAME.
set -e
CAMPAIGN=${CAMPAIGN:-/work/campaign}
here=$(cd "$(dirname "$0")/../.." && pwd)
name=$1; shift
"$CAMPAIGN/venv/bin/rnnsound" report "$CAMPAIGN/results/$name" "$@" | tail -1
python "$here/tools/publish_results.py" "$CAMPAIGN/results/$name" "$name"
