"""One plain epoch and one LLMEmb epoch, timed in one process, against this machine's matmul bound.

Each row is one real training epoch of the product's trainer (``_train_epoch``: RecBole's loop,
our loss and regime), after one warm-up batch. Its FLOPs are counted from the batches it
trained (forward + backward = 3x forward; the transformer, GRU and CE over the item table, the
adapter over every item each step); "share of bound" is the epoch's FLOPs at the measured
fp32 (or bf16, with ``--enable_amp=True``) matmul rate, divided by its wall time.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/epoch_cost.py --dataset=amazon-beauty --threads=2 \
        --train_regime=sequence --train_batch_size=512

Any further ``--key=value`` is a RecBole / recbole-llmemb setting for both models. The LLM table
is random (the cost does not depend on its values) unless ``--real_table``.
"""

from __future__ import annotations

import argparse
import time

import torch
from random_table import write_random_table
from recbole.data.transform import construct_transform

from recbole_llmemb import BACKBONES
from recbole_llmemb.data import load_data
from recbole_llmemb.data.sequence_examples import sequence_train_data
from recbole_llmemb.quick_start import make_config, prepare_table
from recbole_llmemb.trainer import LongTailTrainer, RATTrainer


def matmul_gflops(dtype: torch.dtype, n: int = 2048, repeats: int = 10) -> float:
    """Measured GFLOP/s of an ``n x n`` matmul in ``dtype`` on this process's threads."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def position_flops(config, model) -> float:
    """Forward FLOPs of the backbone for one position of a sequence of ``length`` items (no CE)."""
    name = type(model).__mro__[0].__name__
    if "GRU4Rec" in name:
        e, h = config["embedding_size"], config["hidden_size"]
        per_layer = [2 * 3 * (e * h + h * h)] + [2 * 3 * 2 * h * h] * (config["num_layers"] - 1)
        return sum(per_layer) + 2 * h * e
    d, inner = config["hidden_size"], config["inner_size"]
    return config["n_layers"] * (2 * 4 * d * d + 2 * 2 * d * inner)


def attention_flops(config, model, length: int) -> float:
    """Forward FLOPs of the attention scores and weighted sums of one position against ``length``."""
    if not hasattr(model, "trm_encoder"):
        return 0.0
    return config["n_layers"] * 2 * 2 * length * config["hidden_size"]


def adapter_flops(model) -> float:
    """Forward FLOPs of the adapter over the whole item table (0 for a plain model)."""
    embedding = model.item_embedding
    if not hasattr(embedding, "adapter"):
        return 0.0
    linears = [m for m in embedding.adapter.modules() if isinstance(m, torch.nn.Linear)]
    return sum(2 * m.in_features * m.out_features for m in linears) * (embedding.table.shape[0] - 1)


class CountingLoader:
    """Yields ``loader``'s batches and adds up the FLOPs their training step runs."""

    def __init__(self, loader, config, model, every_position: bool):
        self.loader, self.config, self.model, self.every_position = loader, config, model, every_position
        self.flops, self.steps, self.shuffle = 0.0, 0, loader.shuffle

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        model, n_items = self.model, self.model.item_embedding.weight.shape[0]
        width = self.config["hidden_size"] if hasattr(model, "trm_encoder") else self.config["embedding_size"]
        for batch in self.loader:
            lengths = batch[model.ITEM_SEQ_LEN]
            if hasattr(model, "MASK_ITEM_SEQ") or not self.every_position:
                columns = batch[model.ITEM_SEQ].shape[1]  # RecBole runs the padded window
                queries = batch[model.POS_ITEMS].numel() if hasattr(model, "POS_ITEMS") else len(lengths)
            else:
                columns = int(lengths.max())  # the sequence loss cuts the padding after the longest
                queries = int(lengths.sum())
            positions = len(lengths) * columns
            forward = positions * (position_flops(self.config, model) + attention_flops(self.config, model, columns))
            forward += queries * 2 * width * n_items + adapter_flops(model)
            self.flops += 3 * forward
            self.steps += 1
            yield batch


def timed_epoch(trainer, train_data, every_position: bool, loss=None) -> tuple[float, int, float]:
    """``(seconds, steps, TFLOP)`` of one training epoch after one warm-up batch."""
    trainer._train_epoch([next(iter(train_data))], 0, loss_func=loss)
    counting = CountingLoader(train_data, trainer.config, trainer.model, every_position)
    start = time.perf_counter()
    trainer._train_epoch(counting, 1, loss_func=loss)
    return time.perf_counter() - start, counting.steps, counting.flops / 1e12


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--model", default="SASRec", choices=sorted(BACKBONES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--real_table", action="store_true", help="build (or reuse) the real LLM table")
    args, rest = parser.parse_known_args()
    settings = {"show_progress": False, "state": "WARNING"}
    settings.update(dict(arg[2:].split("=", 1) for arg in rest))
    torch.set_num_threads(args.threads)
    rates = {"fp32": matmul_gflops(torch.float32), "bf16": matmul_gflops(torch.bfloat16)}
    llmemb_class = BACKBONES[args.model]

    def model_config(model_class):
        config = make_config(model_class, args.dataset, None, settings)
        construct_transform(config)  # BERT4Rec's masking keys, which load_data sets on its own config
        return config

    config = model_config(llmemb_class)
    dataset, train_data, _, _ = load_data(config)
    if args.real_table:
        prepare_table(config, dataset)
    else:
        settings["llmemb_table_file"] = write_random_table(dataset, config)
        config = model_config(llmemb_class)
    regime = config["train_regime"]
    rate = rates["bf16" if config["enable_amp"] else "fp32"]
    rows = []
    plain_config = model_config(llmemb_class.backbone)
    for name, model_config_, build in (
        ("plain", plain_config, lambda c: LongTailTrainer(c, llmemb_class.backbone(c, train_data.dataset))),
        ("LLMEmb", config, None),
    ):
        torch.manual_seed(0)
        if build is None:
            model = llmemb_class(config, train_data.dataset)
            target = torch.randn(model.n_items, config[llmemb_class.embedding_size_key])
            trainer = RATTrainer(config, model, align_target=target)
            loss = trainer.batch_loss
        else:
            trainer, loss = build(model_config_), None
        trainer.recommendation_loss.build(train_data)
        every_position = trainer.recommendation_loss.every_position()
        data = sequence_train_data(train_data, trainer.model) if regime == "sequence" else train_data
        seconds, steps, tflop = timed_epoch(trainer, data, every_position, loss)
        rows.append((name, seconds, steps, tflop))
    print(
        f"{args.dataset}, {args.model}, train_regime {regime}, batch {config['train_batch_size']},"
        f" MAX_ITEM_LIST_LENGTH {config['MAX_ITEM_LIST_LENGTH']}, enable_amp {config['enable_amp']},"
        f" adapter_dtype {config['adapter_dtype']}, {args.threads} thread(s);"
        f" matmul GFLOP/s fp32 {rates['fp32']:.0f}, bf16 {rates['bf16']:.0f}"
    )
    print("| model | epoch s | steps | TFLOP | share of bound |")
    print("|---|---|---|---|---|")
    for name, seconds, steps, tflop in rows:
        print(f"| {name} | {seconds:.1f} | {steps} | {tflop:.2f} | {tflop * 1e3 / rate / seconds:.1%} |")
    print(f"LLMEmb / plain epoch time: {rows[1][1] / rows[0][1]:.2f}x")


if __name__ == "__main__":
    main()
