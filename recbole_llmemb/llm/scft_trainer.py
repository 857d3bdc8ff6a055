"""The SCFT training loop: LoRA weights trained on the contrastive view loss, checkpointed, resumable."""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..artifacts.atomic_write import atomic_write
from ..artifacts.records import ArtifactError
from ..distributed import barrier, gather_to_main, is_distributed, is_main, rank, world_size
from ..progress import progress
from ..settings import SCFTSettings
from .lora import lora_model
from .prompts import PromptTemplate
from .scft_loss import embed_texts, scft_loss
from .views import Attributes, ViewSampler

logger = logging.getLogger(__name__)


@dataclass
class SCFTResult:
    adapter_dir: str
    losses: list[float]
    steps: int
    seconds: float  # this call's training time (a resumed run counts only its own part)
    items_per_second: float  # items (each two views, forward and backward) per training second
    model: object = field(default=None, repr=False)  # the peft-wrapped model


def _numpy_rng_state() -> dict:
    """numpy's global RNG state as a tensor and plain numbers (what a weights-only load reads)."""
    _, keys, position, has_gauss, gauss = np.random.get_state()
    return {
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "rest": [int(position), int(has_gauss), float(gauss)],
    }


class SCFTTrainer:
    """LoRA on ``model`` (a transformers decoder without LM head), AdamW with linear decay, and the
    view sampler; ``fit`` trains and writes ``out_dir/adapter`` (peft format) and ``loss.csv``.

    Gradient accumulation averages gradients over micro-batches; each micro-batch keeps its own
    in-batch negatives. Every ``checkpoint_every`` steps ``out_dir/checkpoint.pt`` keeps the LoRA
    weights, optimiser, scheduler, RNG and step: a new trainer on the same folder resumes there.
    """

    def __init__(
        self,
        model,
        tokenizer,
        attributes: Sequence[Attributes],
        template: PromptTemplate,
        settings: SCFTSettings,
        out_dir: str,
    ):
        from transformers import get_linear_schedule_with_warmup

        os.makedirs(out_dir, exist_ok=True)
        self.tokenizer, self.settings, self.out_dir = tokenizer, settings, out_dir
        torch.manual_seed(settings.seed)
        self.model = lora_model(model, settings)
        self.model.train()
        device = next(self.model.parameters()).device
        # Several processes: DDP averages the LoRA gradients; views and batches are drawn alike on
        # every rank (same seed), each rank embeds its slice of the global batch.
        self.forward_model = self.model
        if is_distributed():
            from torch.nn.parallel import DistributedDataParallel

            ids = [device.index] if device.type == "cuda" else None
            self.forward_model = DistributedDataParallel(self.model, device_ids=ids)
        self.log_tau = torch.nn.Parameter(
            torch.tensor(math.log(settings.temperature), device=device),
            requires_grad=settings.learnable_temperature,
        )
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        if settings.learnable_temperature:
            trainable.append(self.log_tau)
        self.optimizer = torch.optim.AdamW(
            trainable, lr=settings.learning_rate, weight_decay=settings.weight_decay
        )
        self.sampler = ViewSampler(attributes, template, settings, world_size())
        self.per_epoch = self.sampler.steps_per_epoch()
        self.total = settings.max_steps if settings.max_steps > 0 else self.per_epoch * settings.epochs
        self.scheduler = get_linear_schedule_with_warmup(
            self.optimizer, int(settings.warmup_ratio * self.total), self.total
        )
        self.checkpoint_path = os.path.join(out_dir, "checkpoint.pt")
        self.step, self.losses = 0, []

    def resume(self) -> None:
        """Continue from ``checkpoint.pt`` when an interrupted run left one."""
        if not os.path.isfile(self.checkpoint_path):
            return
        from peft import set_peft_model_state_dict

        device = self.log_tau.device
        try:  # weights_only: tensors and plain values, never code from the file
            state = torch.load(self.checkpoint_path, map_location=device, weights_only=True)
        except Exception as error:  # a truncated file fails in many ways; all mean the same here
            raise ArtifactError(
                f"{self.checkpoint_path}: unreadable SCFT checkpoint ({type(error).__name__}); delete it to"
                " start SCFT over"
            ) from error
        set_peft_model_state_dict(self.model, state["lora"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        with torch.no_grad():
            self.log_tau.copy_(state["log_tau"])
        ranks = state["rng"].get("torch_ranks") or []
        torch.set_rng_state(ranks[rank()] if len(ranks) == world_size() else state["rng"]["torch"])
        numpy = state["rng"]["numpy"]
        np.random.set_state(("MT19937", numpy["keys"].numpy().astype(np.uint32), *numpy["rest"]))
        self.step, self.losses = state["step"], state["losses"]
        logger.info("SCFT: resuming at step %d of %d from %s", self.step, self.total, self.checkpoint_path)

    def save_checkpoint(self) -> None:
        # Each rank's own torch RNG (its LoRA dropout masks); the rest is the same on every rank.
        torch_states = gather_to_main(torch.get_rng_state())
        if not is_main():
            return
        from peft import get_peft_model_state_dict

        state = {
            "lora": get_peft_model_state_dict(self.model),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "log_tau": self.log_tau.detach().clone(),
            "rng": {"torch": torch.get_rng_state(), "torch_ranks": torch_states, "numpy": _numpy_rng_state()},
            "step": self.step,
            "losses": self.losses,
        }
        with atomic_write(self.checkpoint_path, "wb") as handle:
            torch.save(state, handle)

    def train_step(self, first: Sequence[str], second: Sequence[str], micro_batches) -> tuple[float, int]:
        """One optimiser step over ``micro_batches`` (global item indices); ``(loss, items seen)``.

        Each rank embeds its slice of a micro-batch; the loss sees the whole micro-batch (the other
        ranks' vectors gathered as constants) and is scaled by the world size, so that DDP's mean of
        the ranks' gradients is the gradient of one process embedding the whole batch.
        """
        settings = self.settings
        self.optimizer.zero_grad(set_to_none=True)
        step_loss, items = 0.0, 0
        for n, index in enumerate(micro_batches):
            shares = np.array_split(index, world_size())
            mine = shares[rank()]
            last = n == len(micro_batches) - 1
            sync = (
                contextlib.nullcontext()
                if last or self.forward_model is self.model
                else self.forward_model.no_sync()
            )
            with sync:
                e1, e2 = (
                    gather_rows(
                        embed_texts(
                            self.forward_model,
                            self.tokenizer,
                            [view[i] for i in mine],
                            settings.max_length,
                            settings.pooling,
                        ),
                        [len(share) for share in shares],
                    )
                    for view in (first, second)
                )
                loss = scft_loss(e1, e2, self.log_tau.exp(), settings.exclude_positive)
                (loss * world_size() / settings.gradient_accumulation).backward()
            step_loss += loss.item() / settings.gradient_accumulation
            items += len(index)
        if self.log_tau.grad is not None and world_size() > 1:
            self.log_tau.grad /= world_size()  # every rank saw the whole loss through tau, scaled as above
        self.optimizer.step()
        self.scheduler.step()
        return step_loss, items

    def _log_progress(self) -> None:
        recent = self.losses[-self.settings.checkpoint_every :]
        logger.info(
            "SCFT step %d/%d: loss %.4f (mean of last %d), tau %.4f",
            self.step, self.total, float(np.mean(recent)), len(recent), self.log_tau.exp().item(),
        )  # fmt: skip

    def fit(
        self, show_progress: bool = True, on_step: Callable[[int, float], None] | None = None
    ) -> SCFTResult:
        """Train to ``total`` steps (from where ``resume`` left off); ``on_step(step, loss)`` after each."""
        accumulation = self.settings.gradient_accumulation
        started, items_seen = time.time(), 0
        bar = progress(
            total=self.total,
            initial=self.step,
            desc="SCFT",
            unit="step",
            disable=not (show_progress and is_main()),
        )
        while self.step < self.total:
            epoch, in_epoch = divmod(self.step, self.per_epoch)
            first, second = self.sampler.views(epoch)
            batches = self.sampler.batches(epoch)
            for k in range(in_epoch, self.per_epoch):
                if self.step >= self.total:
                    break
                loss, items = self.train_step(
                    first, second, batches[k * accumulation : (k + 1) * accumulation]
                )
                items_seen += items
                self.step += 1
                self.losses.append(loss)
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}", tau=f"{self.log_tau.exp().item():.3f}")
                if self.step % max(1, self.settings.checkpoint_every) == 0 or self.step == self.total:
                    if is_main():
                        self._log_progress()
                    self.save_checkpoint()
                if on_step is not None:
                    on_step(self.step, loss)
        bar.close()
        seconds = time.time() - started
        rate = items_seen / seconds if seconds > 0 else 0.0
        adapter_dir = self.save_outputs() if is_main() else os.path.join(self.out_dir, "adapter")
        barrier()  # every rank reads the adapter rank 0 wrote
        return SCFTResult(adapter_dir, self.losses, self.step, seconds, rate, model=self.model)

    def save_outputs(self) -> str:
        """Write ``adapter/`` (a temp folder renamed into place) and ``loss.csv``; the adapter's path."""
        adapter_dir = os.path.join(self.out_dir, "adapter")
        temp_dir = adapter_dir + ".tmp"
        shutil.rmtree(temp_dir, ignore_errors=True)
        self.model.save_pretrained(temp_dir, safe_serialization=True)
        shutil.rmtree(adapter_dir, ignore_errors=True)
        os.replace(temp_dir, adapter_dir)
        with atomic_write(os.path.join(self.out_dir, "loss.csv"), "w") as handle:
            writer = csv.writer(handle)
            writer.writerow(["step", "loss"])
            writer.writerows((i + 1, f"{v:.6f}") for i, v in enumerate(self.losses))
        return adapter_dir


def gather_rows(local: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """All ranks' rows (rank order; ``sizes`` rows each), this rank's keeping their gradient.

    The others' rows are constants: the gradient through them is computed on their own ranks.
    """
    if len(sizes) == 1:
        return local
    import torch.distributed as dist

    width = max(sizes)  # all_gather needs equal shapes: pad, then cut
    padded = local.new_zeros((width, local.shape[1]))
    padded[: len(local)] = local.detach()
    buffers = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(buffers, padded)
    parts = [buffer[:size] for buffer, size in zip(buffers, sizes, strict=True)]
    parts[rank()] = local
    return torch.cat(parts)


def train_scft(
    model,
    tokenizer,
    attributes: Sequence[Attributes],
    template: PromptTemplate,
    settings: SCFTSettings,
    out_dir: str,
    show_progress: bool = True,
    on_step: Callable[[int, float], None] | None = None,
) -> SCFTResult:
    """Fine-tune ``model`` with LoRA (:class:`SCFTTrainer`), resuming from ``out_dir`` when possible.

    SCFT seeds the global RNG with ``scft_seed``: the stages that call it isolate it (``isolated_rng``).
    """
    trainer = SCFTTrainer(model, tokenizer, attributes, template, settings, out_dir)
    trainer.resume()
    return trainer.fit(show_progress, on_step)
