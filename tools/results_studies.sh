#!/usr/bin/env bash
# The studies behind docs/results.md: real data from $CLX_DATA_DIR, small from-scratch
# encoders, 3 seeds. Each study resumes where it stopped; `keras-clx study --report DIR`
# re-aggregates one. Usage: tools/results_studies.sh [umsab|mtod|semeval_polarity|semeval_targets|umsab_defaults|mtod_cs|semeval_cs|
#   pretrain_mtod|pretrain_semeval|pretrain_polarity] ...
set -euo pipefail
OUT=${OUT:-studies}
SEEDS=${SEEDS:-0,1,2}
ADV="train.perturbation=adversarial"
ST="train.self_training.enabled=true"
IW="train.instance_weighting=cosine"
NO_CS="train.code_switch.enabled=false"
PRE_CS="train.code_switch.enabled=true model.pretrain.code_switch_copies=2"

study() {  # name recipe [keras-clx study options...]
  local name=$1 recipe=$2; shift 2
  keras-clx study "$recipe" --seeds "$SEEDS" --out "$OUT/$name" "$@"
}

for which in ${@:-umsab mtod semeval_polarity semeval_targets umsab_defaults mtod_cs semeval_cs pretrain_mtod pretrain_semeval pretrain_polarity}; do
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
        --set model.backbone=bert_tiny \
        --variant "vanilla:" --variant "adversarial: $ADV" --variant "adv+st: $ADV $ST" \
        --variant "iw-cosine: $IW" --variant "all-three: $ADV $ST $IW" ;;
    semeval_targets)
      study semeval_targets recipes/semeval_iw.py --set train.instance_weighting=none --set model.backbone=bert_tiny \
        --variant "vanilla:" --variant "adversarial: $ADV" --variant "random: train.perturbation=random" \
        --variant "iw-cosine: $IW" --variant "iw-euclidean: train.instance_weighting=euclidean" \
        --variant "iw-coral: train.instance_weighting=coral" ;;
    umsab_defaults)  # today's defaults (gradient clipping on) and the self-training settings
      study umsab_defaults recipes/umsab.py \
        --variant "vanilla:" --variant "adversarial: $ADV" \
        --variant "adv+st-k100: $ADV $ST train.self_training.k_per_class=100" ;;
    mtod_cs)  # dictionary code-switching (docs/code_switching.md)
      study mtod_cs recipes/mtod_cs.py --set data.max_eval_examples=2000 \
        --variant "vanilla: $NO_CS" --variant "code-switch:" --variant "cs+adv+st: $ADV $ST" \
        --variant "cs-joined: train.code_switch.join_unspaced=true" ;;
    semeval_cs)
      study semeval_cs recipes/semeval_cs.py --set model.backbone=bert_tiny \
        --variant "vanilla: $NO_CS" --variant "code-switch:" --variant "cs+adversarial: $ADV" ;;
    pretrain_mtod)  # masked-LM pretraining on all languages' text (docs/pretraining.md)
      study pretrain_mtod recipes/mtod_pretrain.py --set model.backbone=bert_tiny --set train.learning_rate=2e-3 \
        --set train.epochs=4 --set data.max_eval_examples=2000 --set model.pretrain.steps_per_epoch=600 \
        --variant "vanilla: model.pretrain.enabled=false" --variant "pretrain:" --variant "pretrain+cs: $PRE_CS" \
        --variant "pretrain+cs+adv+st: $PRE_CS $ADV $ST" ;;
    pretrain_semeval)
      study pretrain_semeval recipes/semeval_iw.py --set train.instance_weighting=none --set model.backbone=bert_tiny \
        --set model.pretrain.epochs=4 --set model.pretrain.learning_rate=1e-3 \
        --variant "vanilla:" --variant "pretrain: model.pretrain.enabled=true" \
        --variant "pretrain+cs: model.pretrain.enabled=true $PRE_CS" \
        --variant "pretrain+cs+adversarial: model.pretrain.enabled=true $PRE_CS $ADV" ;;
    pretrain_polarity)  # a sentence task, where self-training applies (it does not to opinion targets)
      study pretrain_polarity recipes/semeval_iw.py --set data.task=sequence --set train.instance_weighting=none \
        --set model.backbone=bert_tiny --set model.pretrain.epochs=4 --set model.pretrain.learning_rate=1e-3 \
        --variant "vanilla:" --variant "code-switch: train.code_switch.enabled=true" \
        --variant "pretrain: model.pretrain.enabled=true" --variant "pretrain+cs: model.pretrain.enabled=true $PRE_CS" \
        --variant "pretrain+cs+adv+st: model.pretrain.enabled=true $PRE_CS $ADV $ST" ;;
    *) echo "unknown study $which" >&2; exit 2 ;;
  esac
done
