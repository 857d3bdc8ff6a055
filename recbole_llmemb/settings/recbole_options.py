"""RecBole's own options that no cache key holds. Every other RecBole option is in the keys."""

from __future__ import annotations

# Where a run writes and runs, and what it shows: never a number of a trained model.
RECBOLE_RUNTIME = frozenset(
    {
        "checkpoint_dir", "show_progress", "device", "gpu_id", "use_gpu", "state", "log_wandb",
        "wandb_project", "worker", "eval_batch_size",
    }
)  # fmt: skip
# A path whose files' contents are in the keys instead of its name.
RECBOLE_INPUTS = frozenset({"data_path"})
# Set per process by torchrun or RecBole's launcher: a key holds the number of processes instead.
PROCESS_SETTINGS = frozenset({"local_rank", "single_spec", "world_size", "nproc", "ip", "port", "offset"})
