"""SCFT: LoRA-fine-tune the LLM contrastively on two attribute-dropped views of each item.

Stage 1 of the method page. Two views of an item keep random subsets of its attributes in
random order; the loss pulls the views' pooled final hidden states together against the
other items of the batch. Only LoRA weights train (peft). Progress is checkpointed (LoRA
weights, optimiser, scheduler, RNG, step) so an interrupted run resumes; the finished adapter
is saved in peft's format under a directory keyed by (LLM, item prompts, settings).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import math
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .atomic import atomic_write
from .config import cache_dir, config_get, drop_neutral
from .llm import check_pooling, llm_fingerprint, load_llm, pool, resolve_llm_path
from .prompts import PromptTemplate, dataset_attributes

logger = logging.getLogger(__name__)

Attributes = Sequence[tuple[str, str]]
LLAMA_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class SCFTSettings:
    """Every ``scft_*`` option; ``key()`` hashes the ones that change the fine-tuned weights."""

    drop_ratio: float = 0.4  # share of an item's attributes dropped per view (authors: int(n * 0.4))
    fresh_views: bool = True  # new views every epoch; False draws them once, as the authors do
    temperature: float = 0.05
    learnable_temperature: bool = False
    exclude_positive: bool = True  # method page: the positive is not in the denominator
    lora_r: int = 8
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    lora_target_modules: list[str] = field(default_factory=lambda: list(LLAMA_PROJECTIONS))
    lora_layers: int = 0  # > 0: LoRA on the last N decoder layers only (backward stops there: cheaper)
    learning_rate: float = 2e-4
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    batch_size: int = 16
    gradient_accumulation: int = 1
    max_length: int = 64
    epochs: int = 1
    max_steps: int = 0  # > 0: stop after this many optimiser steps (wins over epochs)
    gradient_checkpointing: bool = False
    seed: int = 2020  # from scft_seed (RecBole's seed when unset)
    pooling: str = "mean"  # from llm_pooling: SCFT trains the vector the table is built from
    checkpoint_every: int = 20  # runtime only: not in the key
    eval_items: int = 512  # runtime only: items in the view-retrieval check

    _RUNTIME = ("checkpoint_every", "eval_items")
    # pooling was added later (mean only before): at "mean" it stays out of the key, old caches stay valid
    _NEUTRAL_WHEN_ADDED = {"pooling": "mean"}

    @classmethod
    def from_config(cls, config) -> SCFTSettings:
        """Read ``scft_<name>`` for every field (``scft_seed`` falls back to RecBole's ``seed``); validated."""
        values = {}
        for f in dataclasses.fields(cls):
            value = config_get(config, f"scft_{f.name}")
            if value is None and f.name == "seed":
                value = config_get(config, "seed")
            if f.name == "pooling":
                value = config_get(config, "llm_pooling")
            if value is not None:
                values[f.name] = value
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if not 0 <= self.drop_ratio < 1:
            raise ValueError(f"scft_drop_ratio: must be in [0, 1), got {self.drop_ratio}")
        if self.batch_size < 2:
            raise ValueError(
                f"scft_batch_size: in-batch negatives need at least 2 items, got {self.batch_size}"
            )
        if self.temperature <= 0:
            raise ValueError(f"scft_temperature: must be > 0, got {self.temperature}")
        if self.epochs < 1 and self.max_steps < 1:
            raise ValueError("scft_epochs / scft_max_steps: one of them must be at least 1")
        if self.gradient_accumulation < 1:
            raise ValueError(f"scft_gradient_accumulation: must be >= 1, got {self.gradient_accumulation}")
        check_pooling(self.pooling)

    def key(self) -> dict:
        key = {k: v for k, v in dataclasses.asdict(self).items() if k not in self._RUNTIME}
        return drop_neutral(key, self._NEUTRAL_WHEN_ADDED)


def sample_view(attributes: Attributes, drop_ratio: float, rng: np.random.Generator) -> list[tuple[str, str]]:
    """A random subset of ``attributes`` in random order: ``int(n * drop_ratio)`` dropped, one kept."""
    n = len(attributes)
    keep = max(1, n - int(n * drop_ratio))
    return [attributes[i] for i in rng.permutation(n)[:keep]]


def scft_loss(
    view1: torch.Tensor, view2: torch.Tensor, temperature: float | torch.Tensor, exclude_positive: bool = True
) -> torch.Tensor:
    """Symmetric in-batch contrastive loss; cosine similarity over ``temperature``.

    Positives sit on the diagonal. With ``exclude_positive`` the denominator sums over the other
    items only (the method page's formula), otherwise over all (InfoNCE).
    """
    logits = F.normalize(view1, dim=-1) @ F.normalize(view2, dim=-1).T / temperature

    def one_side(logits: torch.Tensor) -> torch.Tensor:
        positive = logits.diagonal()
        if exclude_positive:
            eye = torch.eye(logits.shape[0], dtype=torch.bool, device=logits.device)
            logits = logits.masked_fill(eye, float("-inf"))
        return (torch.logsumexp(logits, dim=1) - positive).mean()

    return (one_side(logits) + one_side(logits.T)) / 2


def embed_texts(
    model, tokenizer, texts: Sequence[str], max_length: int, pooling: str = "mean"
) -> torch.Tensor:
    """Pooled (``pooling``) final hidden states of ``texts`` (one padded batch), with gradients."""
    device = next(model.parameters()).device
    batch = tokenizer(
        list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    ).to(device)
    hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    return pool(hidden, batch["attention_mask"], pooling)


class ViewSampler:
    """Deterministic views and batch order per epoch, seeded by (seed, epoch): a resumed run
    draws exactly the views an uninterrupted one would. ``fresh_views=False`` reuses epoch 0's."""

    def __init__(self, attributes: Sequence[Attributes], template: PromptTemplate, settings: SCFTSettings):
        self.attributes = list(attributes)
        self.template = template
        self.settings = settings

    def views(self, epoch: int) -> tuple[list[str], list[str]]:
        rng = np.random.default_rng([self.settings.seed, epoch if self.settings.fresh_views else 0, 1])
        ratio = self.settings.drop_ratio
        first = [self.template.render(sample_view(a, ratio, rng)) for a in self.attributes]
        second = [self.template.render(sample_view(a, ratio, rng)) for a in self.attributes]
        return first, second

    def batches(self, epoch: int) -> list[np.ndarray]:
        """Shuffled micro-batches of item indices; a last batch under 2 items is dropped."""
        order = np.random.default_rng([self.settings.seed, epoch, 2]).permutation(len(self.attributes))
        size = self.settings.batch_size
        return [order[i : i + size] for i in range(0, len(order), size) if len(order[i : i + size]) >= 2]

    def steps_per_epoch(self) -> int:
        return max(1, len(self.batches(0)) // self.settings.gradient_accumulation)


def lora_model(model, settings: SCFTSettings):
    """``model`` wrapped by peft with LoRA on ``lora_target_modules``; base weights frozen."""
    from peft import LoraConfig, get_peft_model

    names = {name.split(".")[-1] for name, _ in model.named_modules()}
    missing = [m for m in settings.lora_target_modules if m not in names]
    if missing:
        raise ValueError(
            f"scft_lora_target_modules: {missing} are not modules of this LLM; choose from its"
            f" Linear layers, e.g. {sorted(n for n in names if n.endswith('proj'))}"
        )
    targets: list[str] = list(settings.lora_target_modules)
    if settings.lora_layers > 0:
        # Name the modules of the last layers explicitly: peft's layers_to_transform needs a layer pattern.
        found = {
            int(m.group(1)) for m in (re.search(r"layers\.(\d+)\.", n) for n, _ in model.named_modules()) if m
        }
        if not found:
            raise ValueError("scft_lora_layers: no 'layers.<i>.' modules in this LLM; set it to 0")
        last = set(sorted(found)[-settings.lora_layers :])
        targets = [
            name
            for name, _ in model.named_modules()
            if name.split(".")[-1] in settings.lora_target_modules
            and (m := re.search(r"layers\.(\d+)\.", name))
            and int(m.group(1)) in last
        ]
    config = LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=targets,
        bias="none",
    )
    if settings.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return get_peft_model(model, config)


def scft_key(
    llm_fingerprint: str, prompts: Mapping[str, Attributes], template: PromptTemplate, settings
) -> str:
    """Changes with the LLM files, the items' attributes and rendering, and any SCFT setting."""
    parts = [
        llm_fingerprint,
        sorted((token, list(map(list, pairs))) for token, pairs in prompts.items()),
        template.instruction,
        settings.key(),
    ]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class SCFTResult:
    adapter_dir: str
    losses: list[float]
    steps: int
    seconds: float  # this call's training time (a resumed run counts only its own part)
    items_per_second: float  # items (each two views, forward and backward) per training second
    model: object = field(default=None, repr=False)  # the peft-wrapped model


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state()}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])


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
    """Fine-tune ``model`` (a transformers decoder without LM head) with LoRA; write the adapter
    to ``out_dir/adapter`` (peft format). Resumes from ``out_dir/checkpoint.pt`` when present.

    ``on_step(step, loss)`` is called after every optimiser step (progress hooks, tests).
    Gradient accumulation averages gradients over micro-batches; each micro-batch keeps its own
    in-batch negatives.
    """
    import time

    from transformers import get_linear_schedule_with_warmup

    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(settings.seed)
    peft_model = lora_model(model, settings)
    peft_model.train()
    device = next(peft_model.parameters()).device
    log_tau = torch.nn.Parameter(
        torch.tensor(math.log(settings.temperature), device=device),
        requires_grad=settings.learnable_temperature,
    )
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    if settings.learnable_temperature:
        trainable.append(log_tau)
    optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    sampler = ViewSampler(attributes, template, settings)
    per_epoch = sampler.steps_per_epoch()
    total = settings.max_steps if settings.max_steps > 0 else per_epoch * settings.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(settings.warmup_ratio * total), total)

    checkpoint_path = os.path.join(out_dir, "checkpoint.pt")
    step, losses = 0, []
    if os.path.isfile(checkpoint_path):
        from peft import set_peft_model_state_dict

        state = torch.load(checkpoint_path, map_location=device, weights_only=False)
        set_peft_model_state_dict(peft_model, state["lora"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        with torch.no_grad():
            log_tau.copy_(state["log_tau"])
        _set_rng_state(state["rng"])
        step, losses = state["step"], state["losses"]
        logger.info("SCFT: resuming at step %d of %d from %s", step, total, checkpoint_path)

    def save_checkpoint() -> None:
        from peft import get_peft_model_state_dict

        state = {
            "lora": get_peft_model_state_dict(peft_model),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "log_tau": log_tau.detach().clone(),
            "rng": _rng_state(),
            "step": step,
            "losses": losses,
        }
        with atomic_write(checkpoint_path, "wb") as handle:
            torch.save(state, handle)

    accumulation = settings.gradient_accumulation
    started, items_seen = time.time(), 0
    progress = tqdm(total=total, initial=step, desc="SCFT", unit="step", disable=not show_progress)
    while step < total:
        epoch, in_epoch = divmod(step, per_epoch)
        first, second = sampler.views(epoch)
        batches = sampler.batches(epoch)
        for k in range(in_epoch, per_epoch):
            if step >= total:
                break
            optimizer.zero_grad(set_to_none=True)
            step_loss = 0.0
            for index in batches[k * accumulation : (k + 1) * accumulation]:
                e1 = embed_texts(
                    peft_model, tokenizer, [first[i] for i in index], settings.max_length, settings.pooling
                )
                e2 = embed_texts(
                    peft_model, tokenizer, [second[i] for i in index], settings.max_length, settings.pooling
                )
                loss = scft_loss(e1, e2, log_tau.exp(), settings.exclude_positive) / accumulation
                loss.backward()
                step_loss += loss.item()
                items_seen += len(index)
            optimizer.step()
            scheduler.step()
            step += 1
            losses.append(step_loss)
            progress.update(1)
            progress.set_postfix(loss=f"{step_loss:.4f}", tau=f"{log_tau.exp().item():.3f}")
            if step % max(1, settings.checkpoint_every) == 0 or step == total:
                recent = losses[-settings.checkpoint_every :]
                logger.info(
                    "SCFT step %d/%d: loss %.4f (mean of last %d), tau %.4f",
                    step, total, float(np.mean(recent)), len(recent), log_tau.exp().item(),
                )  # fmt: skip
                save_checkpoint()
            if on_step is not None:
                on_step(step, step_loss)
    progress.close()
    seconds = time.time() - started

    adapter_dir = os.path.join(out_dir, "adapter")
    temp_dir = adapter_dir + ".tmp"
    shutil.rmtree(temp_dir, ignore_errors=True)
    peft_model.save_pretrained(temp_dir, safe_serialization=True)
    shutil.rmtree(adapter_dir, ignore_errors=True)
    os.replace(temp_dir, adapter_dir)
    with atomic_write(os.path.join(out_dir, "loss.csv"), "w") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", "loss"])
        writer.writerows((i + 1, f"{v:.6f}") for i, v in enumerate(losses))
    rate = items_seen / seconds if seconds > 0 else 0.0
    return SCFTResult(adapter_dir, losses, step, seconds, rate, model=peft_model)


@torch.no_grad()
def view_retrieval(
    model, tokenizer, attributes: Sequence[Attributes], template: PromptTemplate, settings: SCFTSettings
) -> dict[str, float]:
    """How well one view finds its item's other view among ``eval_items`` items.

    Returns top-1 accuracy (view 1 -> view 2), and alignment (mean squared distance of the
    normalised positive pairs, lower is better) and uniformity (log mean exp(-2 d^2) over all
    pairs, lower is more spread) of Wang & Isola (2020).
    """
    n = min(settings.eval_items, len(attributes))
    index = np.random.default_rng([settings.seed, 3]).permutation(len(attributes))[:n]
    rng = np.random.default_rng([settings.seed, 4])
    first = [template.render(sample_view(attributes[i], settings.drop_ratio, rng)) for i in index]
    second = [template.render(sample_view(attributes[i], settings.drop_ratio, rng)) for i in index]
    was_training = model.training
    model.eval()
    e1 = torch.cat(
        [
            embed_texts(model, tokenizer, first[i : i + 32], settings.max_length, settings.pooling)
            for i in range(0, n, 32)
        ]
    )
    e2 = torch.cat(
        [
            embed_texts(model, tokenizer, second[i : i + 32], settings.max_length, settings.pooling)
            for i in range(0, n, 32)
        ]
    )
    model.train(was_training)
    e1, e2 = F.normalize(e1.float(), dim=-1), F.normalize(e2.float(), dim=-1)
    accuracy = float((e1 @ e2.T).argmax(dim=1).eq(torch.arange(n, device=e1.device)).float().mean())
    alignment = float((e1 - e2).pow(2).sum(dim=1).mean())
    uniformity = float(torch.pdist(e1).pow(2).mul(-2).exp().mean().log())
    return {"view_top1": accuracy, "alignment": alignment, "uniformity": uniformity, "items": n}


def scft_enabled(config) -> bool:
    return bool(config_get(config, "scft", True))


@dataclass
class SCFTOutcome:
    """A finished SCFT run in the cache: its key, folder, peft adapter and ``scft.json`` report."""

    key: str
    directory: str
    report: dict

    @property
    def adapter_dir(self) -> str:
        return os.path.join(self.directory, "adapter")


def run_scft(
    config,
    item_tokens: Sequence[str],
    show_progress: bool = True,
    attributes: dict[str, list[tuple[str, str]]] | None = None,
) -> SCFTOutcome:
    """SCFT on the dataset's item prompts, once per (LLM, prompts, settings); resumable.

    ``attributes``: the items' attribute pairs when the caller has read them already
    (``dataset_attributes``); otherwise they are read here.

    Writes ``<cache>/scft-<key>/``: ``adapter/`` (peft, safetensors), ``loss.csv``,
    ``checkpoint.pt`` and, last, ``scft.json`` (timing, loss, view retrieval before and after).
    """
    settings = SCFTSettings.from_config(config)
    template = PromptTemplate.from_config(config)
    if attributes is None:
        attributes = dataset_attributes(config, item_tokens)
    llm_path = config_get(config, "llm_path")
    key = scft_key(llm_fingerprint(llm_path), attributes, template, settings)
    directory = os.path.join(cache_dir(config), f"scft-{key}")
    report_path = os.path.join(directory, "scft.json")
    if os.path.isfile(report_path) and os.path.isdir(os.path.join(directory, "adapter")):
        logger.info("SCFT: reusing %s", directory)
        with open(report_path, encoding="utf-8") as handle:
            return SCFTOutcome(key, directory, json.load(handle))

    device = config_get(config, "llm_device") or config_get(config, "device", "cpu")
    logger.info(
        "SCFT: fine-tuning %s on %d items, settings %s", resolve_llm_path(llm_path), len(attributes), settings
    )
    model, tokenizer = load_llm(llm_path, device)
    items = [attributes[t] for t in item_tokens]
    before = view_retrieval(model, tokenizer, items, template, settings) if settings.eval_items else {}
    result = train_scft(model, tokenizer, items, template, settings, directory, show_progress)
    after = view_retrieval(result.model, tokenizer, items, template, settings) if settings.eval_items else {}
    losses = result.losses
    report = {
        "items": len(items),
        "steps": result.steps,
        "train_seconds": round(result.seconds, 1),
        "items_per_second": round(result.items_per_second, 2),
        "loss_first": losses[0] if losses else None,
        "loss_last_mean": float(np.mean(losses[-max(1, settings.checkpoint_every) :])) if losses else None,
        "view_retrieval_before": before,
        "view_retrieval_after": after,
        "settings": dataclasses.asdict(settings),
        "llm_path": resolve_llm_path(llm_path),
    }
    logger.info("SCFT done: %s", {k: v for k, v in report.items() if k != "settings"})
    with atomic_write(report_path, "w") as handle:
        json.dump(report, handle, indent=2)
    return SCFTOutcome(key, directory, report)


def load_finetuned_llm(llm_path: str | None, adapter_dir: str, device: torch.device | str = "cpu"):
    """``(model, tokenizer)`` with the SCFT LoRA adapter merged into the base weights, eval mode."""
    from peft import PeftModel

    model, tokenizer = load_llm(llm_path, device)
    merged = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    return merged.eval(), tokenizer
