#!/usr/bin/env bash
# The paper's experiments on amazon-beauty (issue 6), one command each; every run writes its
# report under $OUT/<run>/ and reuses the caches of earlier runs (LLM table, plain backbones).
#
#   benchmarks/reproduce_amazon_beauty.sh pretrain|main|backbones|ablations|baselines|cold|summary|all ...
#
#   pretrain   the plain backbones alone (SASRec per seed, $BACKBONES with the first seed): run it
#              first when JOBS > 1, so that parallel runs share one plain model instead of each
#              training it
#   main       SASRec plain vs LLMEmb, one run per seed in $SEEDS (all seeds share one SCFT run and
#              LLM table: scft_seed is fixed; the seed varies the recommender and the sampled negatives)
#   backbones  $BACKBONES (default GRU4Rec and BERT4Rec) plain vs LLMEmb (first seed)
#   ablations  $ABLATIONS (default all four: w/o scft, adapter, freeze, align; SASRec, first seed)
#   baselines  LLM2X and SAID-style (the llm2x and said variants, SASRec, first seed)
#   cold       the cold-item protocol per fraction in $COLD (default "0.05 0.1"): SASRec per seed,
#              $BACKBONES with the first seed; the w/o-SCFT model (a second table and RAT) with the
#              first seed only. The seeds share one split, SCFT run and table (eval_cold_seed); the
#              "all items trained" rows reuse main's and backbones' models; not part of all
#   summary    the tables, printed as markdown (mean +- std over the seeds for main and cold)
#
# Settings: EPOCHS (default 20, the amazon-beauty default and the regime of RESULTS.md; at 8
# LLMEmb-SASRec is still 9.9% behind plain under full ranking, docs/experiments/levers.md; the
# authors train up to 200 epochs with patience 20), SEEDS (default "2020 2021 2022"), OUT (default
# results/reproduce), CONFIG (config files or variants for every run, e.g. CONFIG=one-negative for
# the authors' one-negative training), COLD, EXTRA (more --key=value settings for every run), BACKBONES, ABLATIONS,
# JOBS (runs at once, default 1; a GPU holds several: each then logs to $OUT/<run>/run.log, which
# ends with its exit status).
# amazon-beauty ships in dataset/amazon-beauty/. One amazon-beauty LLMEmb-SASRec run takes 50-85
# minutes on this 2-core CPU at 20 epochs; a killed run resumes when re-run. On one H200,
# JOBS=16 EPOCHS=20: the three SASRec seeds, three ablations and both baselines in about 9 minutes
# of training (BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
DATASET=amazon-beauty
EPOCHS=${EPOCHS:-20}
SEEDS=${SEEDS:-2020 2021 2022}
OUT=${OUT:-results/reproduce}
EXTRA=${EXTRA:-}
CONFIG=${CONFIG:-}
FIRST_SEED=${SEEDS%% *}
BACKBONES=${BACKBONES-GRU4Rec BERT4Rec}
ABLATIONS=${ABLATIONS-scft adapter freeze align}
COLD=${COLD-0.05 0.1}
JOBS=${JOBS:-1}
PYTHON=${PYTHON:-python}

# run <name> <config files, comma-separated, may be empty> [--key=value ...]
run() {
    local name=$1 files=$2
    shift 2
    files=${files:+$files,}$CONFIG
    # shellcheck disable=SC2086  # EXTRA holds several --key=value words
    local command=("$PYTHON" run_recbole_llmemb.py --dataset=$DATASET --epochs="$EPOCHS" --results_dir="$OUT/$name"
        ${files:+--config_files="${files%,}"} "$@" $EXTRA)
    if ((JOBS == 1)); then
        "${command[@]}"
        return
    fi
    while (($(jobs -rp | wc -l) >= JOBS)); do wait -n || true; done
    mkdir -p "$OUT/$name"
    local log=$OUT/$name/run.log
    { if "${command[@]}" >"$log" 2>&1; then echo "rc=0" >>"$log"; else echo "rc=$?" >>"$log"; fi; } &
}

pretrain() {
    for seed in $SEEDS; do run "pretrain-SASRec-seed$seed" "" --model=SASRec --seed="$seed" --stage=pretrain; done
    for model in $BACKBONES; do run "pretrain-$model-seed$FIRST_SEED" "" --model="$model" --seed="$FIRST_SEED" --stage=pretrain; done
    wait
}
main() { for seed in $SEEDS; do run "SASRec-seed$seed" "" --model=SASRec --seed="$seed"; done; }
backbones() { for model in $BACKBONES; do run "$model-seed$FIRST_SEED" "" --model="$model" --seed="$FIRST_SEED"; done; }
ablations() {
    local part setting
    for part in $ABLATIONS; do
        case $part in
        scft) setting=--scft=False ;;
        adapter) setting=--use_adapter=False ;;
        freeze) setting=--freeze_llm_table=False ;;
        align) setting=--align_weight=0 ;;
        *) echo "ABLATIONS: '$part' is not one of scft adapter freeze align" >&2 && exit 2 ;;
        esac
        run "wo-$part" "" --seed="$FIRST_SEED" "$setting"
    done
}
baselines() {
    for variant in llm2x said; do
        run "$variant" "$variant" --seed="$FIRST_SEED"
    done
}
# percent <fraction>: 0.05 -> 5, the folder names' form
percent() { awk -v f="$1" 'BEGIN { printf "%g", f * 100 }'; }
cold() {
    local fraction name seed model
    for fraction in $COLD; do
        name=cold$(percent "$fraction")
        for seed in $SEEDS; do
            run "$name-SASRec-seed$seed" "" --model=SASRec --seed="$seed" --eval_cold_items="$fraction" \
                $([[ $seed == "$FIRST_SEED" ]] || echo --eval_cold_without_scft=False)
        done
        for model in $BACKBONES; do
            run "$name-$model-seed$FIRST_SEED" "" --model="$model" --seed="$FIRST_SEED" --eval_cold_items="$fraction"
        done
    done
}
summary() {
    wait
    local summarize="$PYTHON benchmarks/summarize_runs.py --dataset=$DATASET"
    echo "## SASRec, mean +- std over seeds $SEEDS"
    $summarize --mean "$OUT"/SASRec-seed*
    for model in $BACKBONES; do
        echo "## $model, seed $FIRST_SEED"
        $summarize --model="$model" "$OUT/$model-seed$FIRST_SEED"
    done
    echo "## SASRec ablations and LLM baselines, seed $FIRST_SEED"
    $summarize "$OUT/SASRec-seed$FIRST_SEED" "$OUT"/wo-* "$OUT/llm2x" "$OUT/said"
    local fraction name model
    for fraction in $COLD; do
        name=cold$(percent "$fraction")
        for model in SASRec $BACKBONES; do
            compgen -G "$OUT/$name-$model-seed*/*-cold-*.json" >/dev/null || continue
            echo "## Cold items, ${name#cold}% held out, $model"
            $PYTHON benchmarks/summarize_cold.py "$OUT/$name-$model-seed*"
        done
    done
}

usage() {
    echo "usage: $0 pretrain|main|backbones|ablations|baselines|cold|summary|all ..." >&2
    exit 2
}
(($#)) || usage
for target in "$@"; do
    case $target in
    pretrain | main | backbones | ablations | baselines | cold | summary) "$target" ;;
    all) pretrain && main && backbones && ablations && baselines && summary ;;
    *) usage ;;
    esac
done
wait
