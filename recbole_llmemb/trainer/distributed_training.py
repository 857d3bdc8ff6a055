"""Trainer mixin: RecBole's DDP training on CPUs as well as GPUs, evaluation over all ranks' users."""

from __future__ import annotations

import warnings

from torch.nn.parallel import DistributedDataParallel

from ..distributed import barrier, is_main, local_rank


class DistributedTrainingMixin:
    """RecBole 1.2.1's trainer under several processes, with three changes.

    Its DDP wrapper passes ``device_ids`` (refused for a CPU module) and broadcasts buffers at
    every step (an LLMEmb model's frozen item table): here ``device_ids`` only on a GPU, no buffer
    broadcast (every rank loads the same table). Its evaluation averages each rank's metrics
    weighted by rows, which is wrong for per-group metrics: here the collector gathers every
    rank's rows first (:class:`~recbole_llmemb.evaluation.longtail.LongTailCollector`), so every
    rank computes the metrics of all users, as one process does. Only rank 0 writes checkpoints.
    """

    def __init__(self, config, model, *args, **kwargs):
        distributed = not config["single_spec"]
        config["single_spec"] = True  # keep RecBole's own DDP wrapper out; ours follows
        try:
            super().__init__(config, model, *args, **kwargs)
        finally:
            config["single_spec"] = not distributed
        if distributed:
            device = next(self.model.parameters()).device
            with warnings.catch_warnings():  # its successor still syncs buffers at init; this does not
                warnings.simplefilter("ignore", FutureWarning)
                self.distributed_model = DistributedDataParallel(
                    self.model,
                    device_ids=[local_rank()] if device.type == "cuda" else None,
                    broadcast_buffers=False,
                )

    def _map_reduce(self, result, num_sample):
        return result  # already over every rank's users: the collector gathered them

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        if is_main():
            super()._save_checkpoint(epoch, verbose=verbose, **kwargs)

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if load_best_model:
            barrier()  # rank 0 may still be writing the best checkpoint
        return super().evaluate(eval_data, load_best_model, model_file, show_progress)
