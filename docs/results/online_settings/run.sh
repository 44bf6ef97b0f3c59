#!/bin/bash
# usage: PROBE_SITE=DIR run.sh OUT files... (appends one line per image and setting to OUT)
OUT=$1; shift
for v in "base:" "rlearn12:P_RLEARN=12" "rlearn14:P_RLEARN=14" "rcount30:P_RCOUNT=30" "rcount127:P_RCOUNT=127" "callim256:P_CALLIM=256" "callim2048:P_CALLIM=2048" "lms0_750:P_LMS0=750" "lms0_3000:P_LMS0=3000" "lms1_200:P_LMS1=200" "lms1_800:P_LMS1=800" "bias128:P_BIAS=128" "bias2048:P_BIAS=2048"; do
  name=${v%%:*}; envs=${v#*:}
  env PVAR=$name $envs python "$(dirname "$0")/probe.py" $OUT "$@"
done
