"""The suite of real, unmodified public training scripts: each case, its label, and how it was confirmed.

A case runs one upstream script (kept byte-identical under tests/real/<repo>/, see its SOURCE) or one of
our drivers (tests/real/drivers/), shortened only through the script's own flags. ``label`` is
``healthy`` or the failure kinds the run shows; ``confirmed_by`` says which figures of the independent
oracle (tests/real/oracles/probe.py, torch hooks of ours, no gradmedic) back the label; the oracle's
output for each case is kept in tests/real/oracles/results/<case>.json (``make real-oracles`` redoes it).
``missing`` names a capability gradmedic lacks today (being built on another branch): the runner marks
that case xfail (not strict) until it lands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HEALTHY = "healthy"


@dataclass(frozen=True)
class Case:
    name: str
    workdir: str  # copied to a fresh temporary folder for each run; the command runs there
    command: tuple[str, ...]  # script and its own flags
    label: str | tuple[str, ...]
    confirmed_by: str
    setup: tuple[str, ...] = ()  # preparation commands, run with python in the copied folder
    data: dict[str, str] = field(default_factory=dict)  # copied folder path -> a file of tests/real
    pythonpath: tuple[str, ...] = ()  # folders of the copy put on PYTHONPATH (a repo's own package)
    missing: str = ""
    slow: bool = True
    seeded: bool = True  # False: the script sets no seed, so its stdout differs from run to run anyway

    @property
    def kinds(self) -> set[str]:
        return set() if self.label == HEALTHY else set(self.label)


SHAKESPEARE = "data_tinyshakespeare.txt"
# "FILE:START:STOP" copies lines START..STOP of FILE
WLM_DATA = {
    "tiny/train.txt": f"{SHAKESPEARE}:0:3000",
    "tiny/valid.txt": f"{SHAKESPEARE}:3000:3400",
    "tiny/test.txt": f"{SHAKESPEARE}:3400:3800",
}
NANOGPT_SMALL = (
    "train.py",
    "config/train_shakespeare_char.py",
    "--device=cpu",
    "--compile=False",
    "--dtype=float32",
    "--eval_iters=5",
    "--eval_interval=100",
    "--log_interval=20",
    "--block_size=64",
    "--batch_size=12",
    "--n_layer=2",
    "--n_head=4",
    "--n_embd=64",
    "--dropout=0.0",
)

CASES: list[Case] = [
    Case(
        name="nanogpt_shakespeare_char",
        workdir="nanoGPT",
        data={"data/shakespeare_char/input.txt": SHAKESPEARE},
        setup=("data/shakespeare_char/prepare.py",),
        command=(*NANOGPT_SMALL, "--max_iters=200", "--lr_decay_iters=200", "--warmup_iters=20"),
        label=HEALTHY,
        confirmed_by="loss falls (oracle loss_first_mean -> loss_last_mean), finite throughout",
    ),
    Case(
        name="makemore_rnn",
        workdir="makemore",
        command=(
            "makemore.py",
            "--type=rnn",
            "--max-steps=300",
            "--num-workers=0",
            "--n-embd=16",
            "--n-embd2=32",
            "--work-dir=out",
        ),
        label=HEALTHY,
        confirmed_by="loss falls, finite; tanh outputs mostly unsaturated (tanh_saturated_late_mean)",
    ),
    Case(
        name="makemore_rnn_huge_lr",
        workdir="makemore",
        command=(
            "makemore.py",
            "--type=rnn",
            "--max-steps=300",
            "--num-workers=0",
            "--n-embd=16",
            "--n-embd2=32",
            "--learning-rate=0.3",
            "--work-dir=out",
        ),
        label=("saturated_units",),
        confirmed_by="oracle: share of F.tanh outputs with |h| > 0.99",
    ),
    Case(
        name="makemore_gru",
        workdir="makemore",
        command=(
            "makemore.py",
            "--type=gru",
            "--max-steps=300",
            "--num-workers=0",
            "--n-embd=16",
            "--n-embd2=32",
            "--work-dir=out",
        ),
        label=HEALTHY,
        confirmed_by="loss falls, finite",
    ),
    Case(
        name="nanogpt_huge_lr_no_clip",
        workdir="nanoGPT",
        data={"data/shakespeare_char/input.txt": SHAKESPEARE},
        setup=("data/shakespeare_char/prepare.py",),
        command=(
            *NANOGPT_SMALL,
            "--max_iters=200",
            "--decay_lr=False",
            "--learning_rate=3.0",
            "--grad_clip=0.0",
        ),
        label=("loss_divergence",),
        confirmed_by="oracle: the loss climbs from 4.2 (ln 65) to 400 and ends near 91; gradient norm 1.1 -> median 19, max 352",
    ),
    Case(
        name="mingpt_adder",
        workdir="minGPT",
        pythonpath=(".",),
        command=(
            "projects/adder/adder.py",
            "--trainer.max_iters=201",
            "--trainer.num_workers=0",
            "--trainer.batch_size=32",
            "--model.model_type=gpt-nano",
            "--system.work_dir=out",
        ),
        label=HEALTHY,
        confirmed_by="loss falls, finite",
    ),
    Case(
        name="mingpt_chargpt",
        workdir="minGPT",
        pythonpath=(".",),
        data={"input.txt": SHAKESPEARE},
        command=(
            "projects/chargpt/chargpt.py",
            "--trainer.max_iters=150",
            "--trainer.num_workers=0",
            "--trainer.batch_size=16",
            "--model.model_type=gpt-nano",
            "--data.block_size=64",
            "--system.work_dir=out",
        ),
        label=HEALTHY,
        confirmed_by="loss falls, finite (minGPT's own NewGELU module)",
    ),
    Case(
        name="regression_no_optimizer",
        workdir="pytorch_examples",
        command=("regression/main.py",),
        label=HEALTHY,
        confirmed_by="loss falls below the script's own 1e-3 stopping threshold",
        seeded=False,  # draws its data with torch.randn and sets no seed: two plain runs print different losses
        slow=False,
    ),
    Case(
        name="word_language_model_lstm_manual_sgd",
        workdir="pytorch_examples/word_language_model",
        data=WLM_DATA,
        command=("main.py", "--data=tiny", "--epochs=1", "--emsize=32", "--nhid=32", "--bptt=20", "--log-interval=50"),
        label=HEALTHY,
        confirmed_by="loss falls, finite (updates weights by hand: p.data.add_(p.grad, alpha=-lr))",
    ),
    Case(
        name="word_language_model_transformer",
        workdir="pytorch_examples/word_language_model",
        data=WLM_DATA,
        command=(
            "main.py",
            "--data=tiny",
            "--model=Transformer",
            "--use-optimizer",
            "--lr=1e-3",
            "--epochs=1",
            "--emsize=32",
            "--nhid=64",
            "--nhead=2",
            "--bptt=20",
            "--log-interval=50",
        ),
        label=HEALTHY,
        confirmed_by="loss falls, finite (nn.TransformerEncoder, AdamW)",
    ),
    Case(
        name="word_language_model_rnn_tanh_huge_lr",
        workdir="pytorch_examples/word_language_model",
        data=WLM_DATA,
        command=(
            "main.py",
            "--data=tiny",
            "--model=RNN_TANH",
            "--use-optimizer",
            "--lr=3",
            "--clip=1e9",
            "--epochs=1",
            "--emsize=32",
            "--nhid=64",
            "--bptt=35",
            "--log-interval=50",
        ),
        label=("exploding_gradients",),
        confirmed_by="oracle: global gradient norm 0.37 at the first step, median 7.9e2, max 2.1e8; the loss climbs from ~8 to 250",
    ),
    Case(
        name="word_language_model_rnn_tanh_manual_sgd_no_clip",
        workdir="pytorch_examples/word_language_model",
        data=WLM_DATA,
        command=(
            "main.py",
            "--data=tiny",
            "--model=RNN_TANH",
            "--lr=200",
            "--clip=1e9",
            "--epochs=1",
            "--emsize=32",
            "--nhid=64",
            "--bptt=35",
            "--log-interval=50",
        ),
        label=("exploding_gradients",),
        confirmed_by="oracle: gradient norm at backward() 0.37 at the first step, max 1.3e5; the loss climbs from 8.5 to 1.2e3",
    ),
    Case(
        name="hf_bert_tiny_plain_loop",
        workdir="drivers",
        command=("hf_bert_classifier.py",),
        label=HEALTHY,
        confirmed_by="loss falls from ~0.69 to near 0 (a separable synthetic task)",
    ),
    Case(
        name="hf_gpt2_tiny_plain_loop",
        workdir="drivers",
        data={"input.txt": SHAKESPEARE},
        command=("hf_gpt2_lm.py", "input.txt"),
        label=HEALTHY,
        confirmed_by="loss falls, finite",
    ),
    Case(
        name="two_optimizers_gradscaler",
        workdir="drivers",
        command=("two_optimizers_gradscaler.py",),
        label=HEALTHY,
        confirmed_by="loss falls; the unscaled gradient norms of both parts are within 100x of each other",
        slow=False,
    ),
]
