#!/usr/bin/env bash
# The studies behind docs/results.md: real data from $CLX_DATA_DIR, small from-scratch
# encoders, 3 seeds. Each study resumes where it stopped; `keras-clx study --report DIR`
# re-aggregates one. Usage: tools/results_studies.sh [umsab|mtod|semeval_polarity|semeval_targets] ...
set -euo pipefail
OUT=${OUT:-studies}
SEEDS=${SEEDS:-0,1,2}
ADV="train.perturbation=adversarial"
ST="train.self_training.enabled=true"
IW="train.instance_weighting=cosine"

study() {  # name recipe [keras-clx study options...]
  local name=$1 recipe=$2; shift 2
  keras-clx study "$recipe" --seeds "$SEEDS" --out "$OUT/$name" "$@"
}

for which in "${@:-umsab mtod semeval_polarity semeval_targets}"; do
  case $which in
    umsab|mtod)
      recipe=recipes/$which.py
      extra=()
      [ "$which" = mtod ] && extra=(--set model.backbone=bert_tiny --set train.learning_rate=2e-3
                                   --set train.epochs=4 --set data.max_eval_examples=2000)
      study "$which" "$recipe" "${extra[@]}" \
        --variant "vanilla:" --variant "adversarial: $ADV" --variant "adversarial-eps0.1: $ADV train.epsilon=0.1" \
        --variant "adv+st: $ADV $ST" --variant "iw-cosine: $IW" --variant "random: train.perturbation=random" \
        --variant "all-three: $ADV $ST $IW" ;;
    semeval_polarity)
      study semeval_polarity recipes/semeval_iw.py --set data.task=sequence --set train.instance_weighting=none \
        --variant "vanilla:" --variant "adversarial: $ADV" --variant "adv+st: $ADV $ST" \
        --variant "iw-cosine: $IW" --variant "all-three: $ADV $ST $IW" ;;
    semeval_targets)
      study semeval_targets recipes/semeval_iw.py --set train.instance_weighting=none \
        --variant "vanilla:" --variant "adversarial: $ADV" --variant "iw-cosine: $IW" \
        --variant "iw-euclidean: train.instance_weighting=euclidean" \
        --variant "iw-coral: train.instance_weighting=coral" ;;
    *) echo "unknown study $which" >&2; exit 2 ;;
  esac
done
